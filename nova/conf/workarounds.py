"""[workarounds] options used by the RBD image backend."""

from oslo_config import cfg

from nova.conf import utils

workarounds_group = cfg.OptGroup(
    'workarounds',
    title='Workaround options',
    help='Switches that change behaviour operators may need to opt out of.')

ALL_OPTS = [
    cfg.BoolOpt(
        'never_download_image_if_on_rbd',
        default=False,
        help="""
Refuse to boot an image that lives in a Ceph cluster this host cannot clone from,
instead of downloading it from Glance and importing it flat into
``[libvirt] images_rbd_pool``. A flat import moves the whole image over the network and
uses its full size in the pool for every instance; with several Ceph sites that is
usually a mistake. Set it with ``[libvirt] images_rbd_glance_store_name`` so that such
images are copied into the local store by Glance rather than refused.

Related options:

* [libvirt] images_type (must be rbd), images_rbd_glance_store_name
"""),
]


def register_opts(conf):
    utils.register_group(conf, workarounds_group, ALL_OPTS)


def list_opts():
    return {workarounds_group: ALL_OPTS}
