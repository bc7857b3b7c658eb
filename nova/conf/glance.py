"""[glance] options: how Nova reaches Glance, and whose credentials copy images."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from nova.conf import utils

glance_group = cfg.OptGroup(
    'glance',
    title='Glance options',
    help="""
How Nova reaches the Image service. The keystoneauth adapter options (service_type,
valid_interfaces, endpoint_override, region_name) find the endpoint; the session
options set TLS and timeouts; the auth options (auth_type, auth_url, username, ...)
are Nova's service credentials, used for the calls a user's token may not make (see
``copy_credentials``).
""")

DEFAULT_SERVICE_TYPE = 'image'

glance_opts = [
    cfg.IntOpt(
        'num_retries',
        default=3,
        min=0,
        help="""
How many times to retry a Glance request that failed to connect or got a 5xx/503
answer before giving up; the delay doubles between attempts from 0.5 s.
"""),
    cfg.StrOpt(
        'copy_credentials',
        default='auto',
        choices=(
            ('auto', 'service credentials when the [glance] auth options are set, '
                     'else the user\'s token'),
            ('user', 'always the booting user\'s token; with Glance\'s default '
                     'policy only admins can then trigger a copy'),
            ('service', 'always the [glance] service credentials; Nova refuses to '
                        'start a copy without them'),
        ),
        help="""
Whose credentials ask Glance to copy an image into
``[libvirt] images_rbd_glance_store_name`` and read its locations. Glance allows
``copy_image`` only to admins by default, so a member's boot of an image that is not in
the local store fails unless the copy is made by a service user. Nova always first reads
the image with the booting user's own token, so a user can only cause copies of images
they can already see; the copy changes neither the image's owner nor its visibility.
Give the service user a role that Glance's ``copy_image`` policy accepts, for example
``"copy_image": "role:admin or role:service"`` with the ``service`` role.
"""),
]


def register_opts(conf):
    utils.register_group(conf, glance_group, glance_opts)
    ks_loading.register_session_conf_options(conf, glance_group.name)
    ks_loading.register_auth_conf_options(conf, glance_group.name)
    ks_loading.register_adapter_conf_options(conf, glance_group.name)
    conf.set_default('service_type', DEFAULT_SERVICE_TYPE, group=glance_group.name)
    conf.set_default('valid_interfaces', ['internal', 'public'], group=glance_group.name)


def list_opts():
    return {
        glance_group: (
            glance_opts
            + ks_loading.get_session_conf_options()
            + ks_loading.get_auth_common_conf_options()
            + ks_loading.get_auth_plugin_conf_options('password')
            + ks_loading.get_adapter_conf_options(include_deprecated=False)
        )
    }
