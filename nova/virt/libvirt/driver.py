"""The slice of Nova's libvirt driver that boots guests from RBD clones.

``spawn`` makes the root disk through the image backend (a copy-on-write clone of the
Glance image, copied into this host's Ceph cluster by Glance first when needed, or a
flat download as the last resort), defines the guest and starts it; ``destroy`` removes
the guest and its disks. A failed spawn undoes every step it took, so nothing (domain,
secret, RBD image, files) is left behind.
"""

import base64
import datetime
import os
import platform
import shutil
import time

from oslo_log import log as logging
from oslo_utils import units

import nova.conf
from nova import exception
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import host as vhost

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

ROOT_DISK = 'disk'
ROOT_DISK_INFO = {'bus': 'virtio', 'dev': 'vda', 'type': 'disk'}
# librbd's cache honours the guest's flushes, so writeback is safe and fast here.
RBD_CACHE_MODE = 'writeback'
CONSOLE_LOG = 'console.log'
# How long a started guest may take to report "running".
WAIT_RUNNING_TIMEOUT = 60
# Longer than Ceph's default watch timeout (30 s): see _remove_disk.
DISK_REMOVE_TIMEOUT = 45
SECRET_DESCRIPTION = 'nova-rbd-multistore: cephx key of client.%(user)s for %(path)s'


class power_state(object):
    """Nova's power states (the values of nova.compute.power_state)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7

    NAMES = {NOSTATE: 'pending', RUNNING: 'running', PAUSED: 'paused',
             SHUTDOWN: 'shutdown', CRASHED: 'crashed', SUSPENDED: 'suspended'}


class InstanceInfo(object):
    def __init__(self, state, internal_id=None):
        self.state = state
        self.internal_id = internal_id

    def __eq__(self, other):
        return (isinstance(other, InstanceInfo) and self.state == other.state
                and self.internal_id == other.internal_id)

    def __repr__(self):
        return 'InstanceInfo(state=%r, internal_id=%r)' % (self.state, self.internal_id)


def _libvirt_power_states():
    lv = vhost.libvirt_module()
    return {
        lv.VIR_DOMAIN_NOSTATE: power_state.NOSTATE,
        lv.VIR_DOMAIN_RUNNING: power_state.RUNNING,
        lv.VIR_DOMAIN_BLOCKED: power_state.RUNNING,
        lv.VIR_DOMAIN_PAUSED: power_state.PAUSED,
        lv.VIR_DOMAIN_SHUTDOWN: power_state.SHUTDOWN,
        lv.VIR_DOMAIN_SHUTOFF: power_state.SHUTDOWN,
        lv.VIR_DOMAIN_CRASHED: power_state.CRASHED,
        lv.VIR_DOMAIN_PMSUSPENDED: power_state.SUSPENDED,
    }


def read_cephx_key(ceph_conf, user):
    """The base64 cephx key of ``client.<user>``, from its keyring or ceph.conf.

    The key is only ever handed to libvirt's secret store; never log it.
    """
    import rados
    cluster = rados.Rados(conffile=ceph_conf or '', rados_id=user)
    key = cluster.conf_get('key')
    if key:
        return key
    section = '[client.%s]' % user
    for path in (cluster.conf_get('keyring') or '').split(','):
        path = path.strip()
        if not path or not os.path.exists(path):
            continue
        current = None
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith('['):
                    current = line
                elif current == section and line.split('=', 1)[0].strip() == 'key':
                    return line.split('=', 1)[1].strip()
    raise exception.InvalidConfiguration(
        option='[libvirt] rbd_user',
        reason='no key for client.%s in the keyring named by %s; add the user\'s '
               'keyring there or define the libvirt secret [libvirt] rbd_secret_uuid '
               'yourself' % (user, ceph_conf or 'the default ceph.conf'))


class _Undo(object):
    """The steps a spawn took, undone in reverse order when a later one fails."""

    def __init__(self):
        self._steps = []

    def add(self, what, func, *args):
        self._steps.append((what, func, args))

    def run(self, instance_uuid):
        while self._steps:
            what, func, args = self._steps.pop()
            try:
                func(*args)
            except Exception as e:
                # Keep undoing: one leftover is better than all of them.
                LOG.error('Could not undo %(what)s of instance %(uuid)s: %(err)s',
                          {'what': what, 'uuid': instance_uuid, 'err': e})


class LibvirtDriver(object):
    """Spawns and destroys guests whose root disk lives in Ceph."""

    def __init__(self, conf=CONF, image_backend=None, host=None, glance_api=None,
                 clock=time.monotonic, sleep=time.sleep):
        self.conf = conf
        if image_backend is None:
            from nova.virt.libvirt import imagebackend
            image_backend = imagebackend.Backend(conf=conf, glance_api=glance_api)
        self.image_backend = image_backend
        self._glance = glance_api
        self._host = host or vhost.Host(conf.libvirt.connection_uri or None)
        self._clock = clock
        self._sleep = sleep

    # --- public driver API ----------------------------------------------------------

    def spawn(self, context, instance, image_meta, injected_files=None,
              admin_password=None, allocations=None, network_info=None,
              block_device_info=None, power_on=True):
        """Create the root disk, define the guest and start it; undo all on failure."""
        undo = _Undo()
        started = self._clock()
        try:
            self._check_image(instance, image_meta)
            disk = self._create_root_disk(context, instance, image_meta, undo)
            self._ensure_ceph_secret(undo)
            self._make_instance_dir(instance, undo)
            xml = self._get_guest_xml(instance, disk)
            domain = self._host.define_domain(xml)
            undo.add('domain definition', self._undefine, domain)
            if power_on:
                domain.create()
                undo.add('domain start', self._stop, domain)
                self._wait_running(instance, domain)
        except BaseException as e:
            # Interrupts too (Ctrl-C during a long copy wait): leave nothing behind.
            undo.run(instance.uuid)
            if not isinstance(e, Exception):
                raise
            failure = self._deploy_failure(instance, e)
            LOG.error('%s; removed what the spawn had made', failure.format_message())
            raise failure from e
        LOG.info('Instance %(uuid)s (%(name)s) spawned in %(t).2f s',
                 {'uuid': instance.uuid, 'name': instance.name,
                  't': self._clock() - started})

    def destroy(self, context, instance, network_info=None, block_device_info=None,
                destroy_disks=True):
        """Stop and undefine the guest, then remove its disks and files.

        The disk's parent (the Glance image in the images pool) is never touched: the
        backend's ``remove`` removes the clone only.
        """
        domain = self._host.find_domain(instance.uuid)
        if domain is not None:
            self._stop(domain)
            self._undefine(domain)
        if destroy_disks:
            self._remove_disk(self.image_backend.by_name(instance, ROOT_DISK))
            shutil.rmtree(self._instance_dir(instance), ignore_errors=True)
        LOG.info('Instance %s destroyed', instance.uuid)

    def get_info(self, instance):
        domain = self._host.find_domain(instance.uuid)
        if domain is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        state = domain.state()[0]
        return InstanceInfo(state=_libvirt_power_states().get(state, power_state.NOSTATE),
                            internal_id=domain.ID())

    def cache_image(self, context, image_id):
        """Make the image local to this host's cluster ahead of boots (precaching).

        True when Glance copied it now, False when it was local already.
        """
        return self.image_backend.by_name(None, None).cache_image(context, image_id)

    def list_instances(self):
        """Names of this host's guests."""
        return [inst.name for inst, _domain in self.instances()]

    def list_instance_uuids(self):
        return [inst.uuid for inst, _domain in self.instances()]

    def instances(self):
        """``(Instance, domain)`` for each guest this host (same instances_path) owns."""
        from nova import objects
        lv = vhost.libvirt_module()
        found = []
        for domain in self._host.list_domains():
            try:
                meta = domain.metadata(lv.VIR_DOMAIN_METADATA_ELEMENT, vconfig.NOVA_NS)
            except lv.libvirtError:
                continue  # not ours: no metadata in our namespace
            info = vconfig.LibvirtConfigGuestMetaNovaInstance.parse_str(meta)
            if (info.host != self.conf.host
                    or info.instances_path != self.conf.instances_path):
                continue
            found.append((objects.Instance(
                uuid=domain.UUIDString(), name=domain.name(), image_ref=info.image_ref,
                root_gb=info.root_gb or 0, memory_mb=info.memory_mb or 0,
                vcpus=info.vcpus or 0, host=info.host,
                display_name=info.display_name), domain))
        return found

    def console_log_path(self, instance):
        return os.path.join(self._instance_dir(instance), CONSOLE_LOG)

    # --- spawn steps ----------------------------------------------------------------

    def _check_image(self, instance, image_meta):
        """Refuse what cannot boot before any storage is touched."""
        if image_meta is None:
            return
        if image_meta.disk_format and image_meta.disk_format != 'raw':
            raise exception.ImageDiskFormatUnsupported(
                image_id=image_meta.id, disk_format=image_meta.disk_format)
        if instance.root_gb and image_meta.size and (
                image_meta.size > instance.root_gb * units.Gi):
            raise exception.Invalid(
                reason='image %s is %d bytes, larger than the root disk of %d GiB; '
                       'boot it with a larger --root-gb' % (
                           image_meta.id, image_meta.size, instance.root_gb))

    def _create_root_disk(self, context, instance, image_meta, undo):
        disk = self.image_backend.by_name(instance, ROOT_DISK)
        if disk.exists():
            raise exception.InstanceExists(name='%s (RBD image %s)' % (
                instance.uuid, getattr(disk, 'rbd_name', ROOT_DISK)))
        # Registered before the work: a half-made clone or import goes too.
        undo.add('root disk', self._remove_disk, disk)
        size = instance.root_gb * units.Gi
        try:
            disk.clone(context, instance.image_ref)
        except exception.ImageUnacceptable as e:
            # The backend already refused (ImageDownloadRefused, not caught here) when
            # [workarounds] never_download_image_if_on_rbd forbids a download.
            LOG.info('Image %(image)s cannot be cloned (%(why)s); downloading it and '
                     'importing it flat instead',
                     {'image': instance.image_ref, 'why': e.format_message()})
            self._create_flat(context, instance, disk, size, undo)
        disk.resize(size)
        return disk

    def _create_flat(self, context, instance, disk, size, undo):
        base_dir = os.path.join(self.conf.instances_path, '_base')
        os.makedirs(base_dir, exist_ok=True)
        # Per instance: concurrent flat boots of one image never share a half file.
        base = os.path.join(base_dir, '%s.%s.part' % (instance.image_ref, instance.uuid))
        try:
            disk.create_image(self._fetch_image, base, size, context=context,
                              image_id=instance.image_ref)
        finally:
            if os.path.exists(base):
                os.unlink(base)

    def _fetch_image(self, target, context, image_id, **kwargs):
        self._glance_api().download(context, image_id, target)

    def _glance_api(self):
        if self._glance is None:
            from nova.image import glance
            self._glance = glance.API()
        return self._glance

    def _remove_disk(self, disk):
        """Remove an instance disk, waiting out the watch of a QEMU that just died.

        A QEMU that exits without closing its RBD image (a failed start) leaves a
        watch that Ceph keeps until it times out (osd_client_watch_timeout, 30 s).
        """
        deadline = self._clock() + DISK_REMOVE_TIMEOUT
        while True:
            try:
                if disk.exists():
                    disk.remove()
                return
            except exception.RbdImageBusy as e:
                if self._clock() >= deadline:
                    raise
                LOG.info('%s; retrying for up to %d s', e.format_message(),
                         DISK_REMOVE_TIMEOUT)
                self._sleep(2)

    def _ensure_ceph_secret(self, undo):
        """Make sure libvirt holds ``rbd_user``'s key under ``rbd_secret_uuid``.

        An operator-defined secret is used as is. Otherwise one is defined from the
        user's keyring; if this spawn fails while no other guest of this host exists,
        it is removed again.
        """
        libvirt_conf = self.conf.libvirt
        if not libvirt_conf.rbd_user or not libvirt_conf.rbd_secret_uuid:
            return
        if self._host.find_secret(libvirt_conf.rbd_secret_uuid) is not None:
            return
        key = read_cephx_key(libvirt_conf.images_rbd_ceph_conf, libvirt_conf.rbd_user)
        prefix = self.conf.instance_name_template.split('%', 1)[0]
        secret_config = vconfig.LibvirtConfigSecret(
            uuid=libvirt_conf.rbd_secret_uuid, usage_type='ceph',
            usage_id='%sclient.%s %s' % (prefix, libvirt_conf.rbd_user,
                                         libvirt_conf.rbd_secret_uuid),
            description=SECRET_DESCRIPTION % {'user': libvirt_conf.rbd_user,
                                              'path': self.conf.instances_path})
        secret = self._host.create_secret(secret_config, base64.b64decode(key))
        LOG.info('Defined libvirt secret %(uuid)s for client.%(user)s',
                 {'uuid': libvirt_conf.rbd_secret_uuid, 'user': libvirt_conf.rbd_user})
        undo.add('ceph secret', self._remove_secret_if_unused, secret)

    def _remove_secret_if_unused(self, secret):
        if not self.instances():
            secret.undefine()

    def _instance_dir(self, instance):
        return os.path.join(self.conf.instances_path, instance.uuid)

    def _make_instance_dir(self, instance, undo):
        path = self._instance_dir(instance)
        os.makedirs(path)
        undo.add('instance directory', shutil.rmtree, path, True)

    def _get_guest_xml(self, instance, disk):
        guest = vconfig.LibvirtConfigGuest()
        guest.virt_type = self.conf.libvirt.virt_type
        guest.name = instance.name
        guest.uuid = instance.uuid
        guest.memory = instance.memory_mb * units.Ki
        guest.vcpus = instance.vcpus
        guest.os_arch = platform.machine()
        guest.os_boot_dev = ['hd']
        guest.metadata.append(vconfig.LibvirtConfigGuestMetaNovaInstance(
            host=self.conf.host, instances_path=self.conf.instances_path,
            display_name=instance.display_name, image_ref=instance.image_ref,
            root_gb=instance.root_gb, memory_mb=instance.memory_mb,
            vcpus=instance.vcpus,
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec='seconds')))
        guest.add_device(disk.libvirt_info(ROOT_DISK_INFO, RBD_CACHE_MODE))
        # virtlogd (root) writes the log, so instances_path need not be writable by
        # the QEMU user; the pty keeps the console usable with `virsh console`.
        guest.add_device(vconfig.LibvirtConfigGuestSerial(
            type='pty', log_file=self.console_log_path(instance)))
        return guest.to_xml()

    def _wait_running(self, instance, domain):
        lv = vhost.libvirt_module()
        deadline = self._clock() + WAIT_RUNNING_TIMEOUT
        while True:
            state, reason = domain.state()
            if state == lv.VIR_DOMAIN_RUNNING:
                return
            if state in (lv.VIR_DOMAIN_SHUTOFF, lv.VIR_DOMAIN_CRASHED):
                raise exception.Invalid(
                    reason='the guest stopped right after it started (libvirt state %d, '
                           'reason %d); see QEMU\'s log for %s' % (state, reason,
                                                                   instance.name))
            if self._clock() >= deadline:
                raise exception.Invalid(
                    reason='the guest did not report running within %d s (libvirt '
                           'state %d)' % (WAIT_RUNNING_TIMEOUT, state))
            self._sleep(0.1)

    # --- stopping -------------------------------------------------------------------

    def _stop(self, domain):
        lv = vhost.libvirt_module()
        for attempt in range(3):
            try:
                if domain.isActive():
                    domain.destroy()
                return
            except lv.libvirtError as e:
                if vhost.is_no_domain(e):
                    return
                # QEMU may take a moment to close its RBD image; libvirt then says
                # "operation timed out" or "device busy": try again.
                if attempt == 2:
                    raise
                LOG.warning('Stopping %(name)s failed (%(err)s); retrying',
                            {'name': domain.name(), 'err': e.get_error_message()})
                self._sleep(1)

    def _undefine(self, domain):
        lv = vhost.libvirt_module()
        try:
            domain.undefine()
        except lv.libvirtError as e:
            if not vhost.is_no_domain(e):
                raise

    @staticmethod
    def _deploy_failure(instance, error):
        if isinstance(error, exception.InstanceDeployFailure):
            return error
        if isinstance(error, exception.NovaException):
            reason = error.format_message()
        else:
            get_message = getattr(error, 'get_error_message', None)
            reason = '%s: %s' % (type(error).__name__,
                                 get_message() if get_message else error)
        return exception.InstanceDeployFailure(instance_id=instance.uuid, reason=reason)
