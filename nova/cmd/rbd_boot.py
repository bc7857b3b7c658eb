"""nova-rbd-boot: boot, list, destroy guests on one compute host; precache images.

    nova-rbd-boot --config-file nova.conf boot --image IMAGE_ID --root-gb 1
    nova-rbd-boot --config-file nova.conf list
    nova-rbd-boot --config-file nova.conf destroy UUID_OR_NAME
    nova-rbd-boot --config-file nova.conf precache IMAGE_ID

The user is authenticated from the usual OS_* environment variables. Exit codes say
which kind of failure happened (see ``EXIT_CODES``), and the one-line error is the
exception's message.
"""

import os
import sys
import time

from oslo_config import cfg
from oslo_log import log as logging

import nova.conf
from nova import exception

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1            # anything not listed below
EXIT_USAGE = 2            # bad arguments or configuration
EXIT_AUTH = 3             # OS_* missing or Keystone refused them
EXIT_IMAGE = 4            # image not found, not visible, not active
EXIT_IMAGE_UNBOOTABLE = 5  # format or location this host cannot boot from
EXIT_COPY = 6             # Glance could not copy the image into the local store
EXIT_DEPLOY = 7           # Ceph, libvirt or the guest failed
EXIT_NOT_FOUND = 8        # destroy: no such instance on this host
EXIT_MARKER = 9           # boot --wait-marker: the text never showed

EXIT_CODES = (
    (exception.ImageCopyNotAuthorized, EXIT_COPY),
    (exception.ImageNotFound, EXIT_IMAGE),
    (exception.ImageNotAuthorized, EXIT_IMAGE),
    (exception.ImageNotActive, EXIT_IMAGE),
    (exception.ImageDiskFormatUnsupported, EXIT_IMAGE_UNBOOTABLE),
    (exception.ImageUnacceptable, EXIT_IMAGE_UNBOOTABLE),
    (exception.ImageDownloadRefused, EXIT_IMAGE_UNBOOTABLE),
    (exception.ImageCopyFailed, EXIT_COPY),
    (exception.ImageCopyTimeout, EXIT_COPY),
    (exception.GlanceStoreNotFound, EXIT_USAGE),
    (exception.GlanceStoreWrongCluster, EXIT_USAGE),
    (exception.InvalidConfiguration, EXIT_USAGE),
    (exception.InstanceNotFound, EXIT_NOT_FOUND),
)

ENV_HELP = """
Credentials come from the environment, as for the openstack client: OS_AUTH_URL,
OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, OS_USER_DOMAIN_NAME (default Default),
OS_PROJECT_DOMAIN_NAME (default Default).

Exit codes: 0 ok, 1 unexpected error, 2 usage or configuration, 3 authentication,
4 image not found/visible/active, 5 image not bootable here (format, location),
6 Glance copy failed, 7 deploy failed (Ceph, libvirt, guest), 8 no such instance,
9 --wait-marker text not seen in time.
"""


# --- subcommands ------------------------------------------------------------------------

def add_command_parsers(subparsers):
    boot = subparsers.add_parser(
        'boot', help='boot a guest from an image (cloned from this host\'s Ceph cluster, '
                     'copied there by Glance first when needed)')
    boot.add_argument('--image', required=True, help='Glance image ID')
    boot.add_argument('--root-gb', type=int, required=True,
                      help='root disk size in GiB (the clone is grown to it)')
    # dest: oslo.config keeps the subcommand's own name in CONF.command.name.
    boot.add_argument('--name', dest='display_name', metavar='NAME',
                      help='display name (default: the domain name)')
    boot.add_argument('--memory-mb', type=int, default=64, help='guest RAM (default 64)')
    boot.add_argument('--wait-marker', metavar='TEXT',
                      help='wait until TEXT appears on the serial console')
    boot.add_argument('--wait-timeout', type=float, default=120,
                      help='seconds to wait for --wait-marker (default 120)')
    boot.set_defaults(func=do_boot)

    lst = subparsers.add_parser(
        'list', help='guests of this host: uuid, name, state, root disk, its parent and '
                     'the Glance store that parent belongs to')
    lst.set_defaults(func=do_list)

    destroy = subparsers.add_parser(
        'destroy', help='stop a guest and remove it and its disk (never the image)')
    destroy.add_argument('instance', metavar='UUID|NAME')
    destroy.set_defaults(func=do_destroy)

    precache = subparsers.add_parser(
        'precache', help='make an image local to this host\'s Ceph cluster ahead of boots')
    precache.add_argument('image', metavar='IMAGE', help='Glance image ID')
    precache.set_defaults(func=do_precache)


def _driver():
    from nova.virt.libvirt import driver
    return driver.LibvirtDriver(CONF)


def _image(context, image_id):
    from nova.image import glance
    from nova import objects
    return objects.ImageMeta.from_dict(glance.API().show(context, image_id))


def do_boot(context):
    from nova import objects
    args = CONF.command
    store = CONF.libvirt.images_rbd_glance_store_name
    image = _image(context, args.image)
    instance = objects.Instance.new(
        CONF.instance_name_template, image_ref=image.id, root_gb=args.root_gb,
        host=CONF.host, display_name=args.display_name, memory_mb=args.memory_mb)
    drv = _driver()
    print('booting %s (%s) from image %s; stores before: %s' % (
        instance.uuid, instance.display_name, image.id, ','.join(image.stores) or '-'))
    sys.stdout.flush()
    start = time.monotonic()
    drv.spawn(context, instance, image)
    spawned = time.monotonic() - start
    after = _image(context, image.id)
    copied = bool(store) and store not in image.stores and store in after.stores
    disk = describe_disk(drv, instance)
    _print_fields([
        ('uuid', instance.uuid), ('name', instance.name),
        ('display_name', instance.display_name), ('image', image.id),
        ('copied_to_store', store if copied else 'no'),
        ('spawn_seconds', '%.2f' % spawned),
        ('root_disk', disk['disk']), ('parent', disk['parent']),
        ('parent_store', disk['store']),
        ('image_stores', ','.join(after.stores)),
        ('console_log', drv.console_log_path(instance)),
    ])
    if args.wait_marker:
        path = drv.console_log_path(instance)
        waited = wait_for_marker(path, args.wait_marker, args.wait_timeout)
        if waited is None:
            raise exception.GuestMarkerTimeout(
                uuid=instance.uuid, marker=args.wait_marker, path=path,
                timeout=args.wait_timeout)
        _print_fields([('marker_seconds', '%.2f' % (time.monotonic() - start))])
    return EXIT_OK


def do_list(context):
    from nova.virt.libvirt import driver
    drv = _driver()
    rows = [('UUID', 'NAME', 'STATE', 'ROOT DISK', 'PARENT', 'STORE')]
    for instance, domain in drv.instances():
        state = driver.power_state.NAMES.get(drv.get_info(instance).state, '?')
        disk = describe_disk(drv, instance)
        rows.append((instance.uuid, instance.display_name, state, disk['disk'],
                     disk['parent'], disk['store']))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print('  '.join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return EXIT_OK


def do_destroy(context):
    drv = _driver()
    wanted = CONF.command.instance
    matches = [inst for inst, _dom in drv.instances()
               if wanted in (inst.uuid, inst.name, inst.display_name)]
    if not matches:
        raise exception.InstanceNotFound(instance_id=wanted)
    if len(matches) > 1:
        raise exception.Invalid(reason='%d instances are named %s; destroy by UUID (%s)'
                                % (len(matches), wanted,
                                   ', '.join(m.uuid for m in matches)))
    drv.destroy(context, matches[0])
    print('destroyed %s (%s)' % (matches[0].uuid, matches[0].display_name))
    return EXIT_OK


def do_precache(context):
    drv = _driver()
    start = time.monotonic()
    copied = drv.cache_image(context, CONF.command.image)
    store = CONF.libvirt.images_rbd_glance_store_name
    print('image %s %s store %s (%.2f s)' % (
        CONF.command.image, 'copied into' if copied else 'already in', store,
        time.monotonic() - start))
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------

def _print_fields(fields):
    for key, value in fields:
        print('%s: %s' % (key, value))
    sys.stdout.flush()


def describe_disk(drv, instance):
    """The root disk's RBD name, its clone parent and the Glance store holding it."""
    disk = drv.image_backend.by_name(instance, 'disk')
    info = {'disk': '%s/%s' % (disk.pool, disk.rbd_name), 'parent': '-', 'store': '-'}
    try:
        parent = disk.driver.parent_info(disk.rbd_name, pool=disk.pool)
    except exception.RbdImageNotFound:
        info['disk'] += ' (missing)'
        return info
    if not parent:
        info['parent'] = '(flat)'
        return info
    info['parent'] = '%s/%s@%s' % (parent.pool, parent.image, parent.snapshot)
    store = CONF.libvirt.images_rbd_glance_store_name
    # Glance's rbd store names its RBD image after the image ID, and the parent is in
    # this host's cluster: so it is the copy in this host's store.
    info['store'] = store if parent.image == instance.image_ref and store else '?'
    return info


def wait_for_marker(path, marker, timeout, sleep=time.sleep, clock=time.monotonic):
    """Seconds until ``marker`` shows in the file at ``path``, or None on timeout."""
    start = clock()
    while True:
        try:
            with open(path, errors='replace') as f:
                if marker in f.read():
                    return clock() - start
        except FileNotFoundError:
            pass
        if clock() - start >= timeout:
            return None
        sleep(0.1)


def auth_session(environ=None):
    """A keystoneauth session for the OS_* credentials in the environment."""
    from keystoneauth1 import loading
    from keystoneauth1 import session as ks_session
    env = os.environ if environ is None else environ
    missing = [name for name in ('OS_AUTH_URL', 'OS_USERNAME', 'OS_PASSWORD',
                                 'OS_PROJECT_NAME') if not env.get(name)]
    if missing:
        raise exception.AuthenticationFailed(
            reason='%s not set in the environment; source your openrc'
                   % ', '.join(missing))
    auth = loading.get_plugin_loader('password').load_from_options(
        auth_url=env['OS_AUTH_URL'], username=env['OS_USERNAME'],
        password=env['OS_PASSWORD'], project_name=env['OS_PROJECT_NAME'],
        user_domain_name=env.get('OS_USER_DOMAIN_NAME') or 'Default',
        project_domain_name=env.get('OS_PROJECT_DOMAIN_NAME') or 'Default')
    return ks_session.Session(auth=auth)


def make_context(environ=None):
    from keystoneauth1 import exceptions as ks_exc
    from nova import context
    try:
        return context.RequestContext.from_auth_session(auth_session(environ))
    except ks_exc.Unauthorized:
        raise exception.AuthenticationFailed(
            reason='Keystone at %s refused the OS_* credentials (HTTP 401)'
                   % (environ or os.environ).get('OS_AUTH_URL'))
    except ks_exc.ClientException as e:
        raise exception.AuthenticationFailed(reason='Keystone at %s: %s' % (
            (environ or os.environ).get('OS_AUTH_URL'), e))


def exit_code(error):
    """The exit code for an error, looking through InstanceDeployFailure's cause."""
    if isinstance(error, exception.InstanceDeployFailure) and error.__cause__:
        cause_code = exit_code(error.__cause__)
        return EXIT_DEPLOY if cause_code == EXIT_ERROR else cause_code
    if isinstance(error, exception.AuthenticationFailed):
        return EXIT_AUTH
    if isinstance(error, exception.GuestMarkerTimeout):
        return EXIT_MARKER
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    if isinstance(error, exception.InstanceDeployFailure):
        return EXIT_DEPLOY
    return EXIT_ERROR


COMMAND_OPT = cfg.SubCommandOpt(
    'command', title='Commands', handler=add_command_parsers,
    help='run "nova-rbd-boot COMMAND --help" for the options of each')


def main(argv=None):
    CONF.register_cli_opt(COMMAND_OPT)
    logging.register_options(CONF)
    try:
        CONF(sys.argv[1:] if argv is None else argv, project='nova',
             prog='nova-rbd-boot', description=__doc__.split('\n\n')[0],
             epilog=ENV_HELP)
    except cfg.Error as e:
        print('nova-rbd-boot: %s' % e, file=sys.stderr)
        return EXIT_USAGE
    logging.setup(CONF, 'nova')
    try:
        context = make_context()
        return CONF.command.func(context)
    except exception.NovaException as e:
        print('ERROR: %s' % e.format_message(), file=sys.stderr)
        return exit_code(e)
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    except Exception as e:  # libvirt or Ceph outside a spawn: one line, not a trace
        LOG.debug('%s failed', CONF.command.name, exc_info=True)
        get_message = getattr(e, 'get_error_message', None)
        print('ERROR: %s: %s' % (type(e).__name__, get_message() if get_message else e),
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == '__main__':
    sys.exit(main())
