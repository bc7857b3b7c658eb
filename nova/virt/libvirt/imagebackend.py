"""Image backends of the libvirt driver: where an instance's disks live.

This tree implements the ``rbd`` backend. Its root disk is a copy-on-write clone of the
Glance image's snapshot in this host's Ceph cluster; when the image has no location in
this cluster, Glance is asked to copy it into ``[libvirt] images_rbd_glance_store_name``
first. The rules for that wait are plain functions in
:mod:`nova.virt.libvirt.image_copy`; this module does the I/O around them.
"""

import os
import threading
import time
import weakref

import fasteners
from oslo_log import log as logging
from oslo_utils import units

import nova.conf
from nova import exception
from nova.virt.libvirt import image_copy
from nova.virt.libvirt.storage import rbd_utils

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

# How often the local pool is looked at while Glance copies into it: cheap (one RADOS
# round trip on loopback or the local network), and the reason a finished copy is seen
# within a fraction of a second whatever the Glance poll interval is.
POOL_WATCH_INTERVAL = 0.15
# How often a copy's progress is logged at INFO.
PROGRESS_LOG_INTERVAL = 5.0
# Glance's rbd store names the snapshot of every image it writes this way.
GLANCE_SNAPSHOT = 'snap'


class Image(object):
    """One disk of one instance, in some storage."""

    SUPPORTS_CLONE = False

    def __init__(self, instance, disk_name, conf=CONF):
        self.instance = instance
        self.disk_name = disk_name
        self.conf = conf

    def exists(self):
        raise NotImplementedError()

    def create_image(self, prepare_template, base, size, *args, **kwargs):
        """Create the disk from ``base``, which ``prepare_template`` writes."""
        raise NotImplementedError()

    def clone(self, context, image_id_or_uri):
        raise exception.ImageNotCloneable(
            image_id=image_id_or_uri,
            reason='the %s backend cannot clone' % type(self).__name__)

    def cache_image(self, context, image_id):
        return False

    def get_disk_size(self):
        raise NotImplementedError()

    def resize(self, size):
        raise NotImplementedError()

    def remove(self):
        raise NotImplementedError()

    def libvirt_info(self, disk_info, cache_mode, extra_specs=None, boot_order=None,
                     disk_unit=None):
        raise NotImplementedError()


class Rbd(Image):
    """A disk in ``[libvirt] images_rbd_pool``, cloned from Glance when it can be."""

    SUPPORTS_CLONE = True

    def __init__(self, instance=None, disk_name=None, path=None, conf=CONF,
                 glance_api=None, rbd_driver=None, clock=time.monotonic,
                 sleep=time.sleep):
        super().__init__(instance, disk_name, conf)
        if path:
            self.rbd_name = path.rsplit('/', 1)[-1]
        elif instance is not None and disk_name:
            self.rbd_name = '%s_%s' % (instance.uuid, disk_name)
        else:
            self.rbd_name = None
        self.pool = conf.libvirt.images_rbd_pool
        self.driver = rbd_driver or rbd_utils.RBDDriver.from_conf(conf)
        if glance_api is None:
            from nova.image import glance
            glance_api = glance.API()
        self.glance = glance_api
        self._clock = clock
        self._sleep = sleep

    # --- the disk itself ------------------------------------------------------------

    @property
    def path(self):
        return 'rbd:%s/%s' % (self.pool, self.rbd_name)

    def exists(self):
        return self.driver.exists(self.rbd_name, pool=self.pool)

    def get_disk_size(self):
        return self.driver.size(self.rbd_name, pool=self.pool)

    def resize(self, size):
        """Grow the disk to ``size`` bytes; a disk is never shrunk."""
        if size and size > self.get_disk_size():
            self.driver.resize(self.rbd_name, size)

    def remove(self):
        """Remove the instance's disk. Its parent, Glance's image, stays."""
        self.driver.remove_image(self.rbd_name, pool=self.pool)

    def create_image(self, prepare_template, base, size, *args, **kwargs):
        """The flat path: ``prepare_template`` downloads to ``base``, then import it."""
        if not self.exists():
            prepare_template(target=base, *args, **kwargs)
            self.driver.import_image(base, self.rbd_name)
        self.resize(size)

    def libvirt_info(self, disk_info, cache_mode, extra_specs=None, boot_order=None,
                     disk_unit=None):
        from nova.virt.libvirt import config as vconfig
        hosts, ports = self.driver.get_mon_addrs()
        disk = vconfig.LibvirtConfigGuestDisk()
        disk.source_device = disk_info.get('type', 'disk')
        disk.source_type = 'network'
        disk.source_protocol = 'rbd'
        disk.source_name = '%s/%s' % (self.pool, self.rbd_name)
        disk.source_hosts = hosts
        disk.source_ports = ports
        disk.driver_name = 'qemu'
        disk.driver_format = 'raw'
        disk.driver_cache = cache_mode
        disk.driver_discard = 'unmap'
        disk.target_dev = disk_info['dev']
        disk.target_bus = disk_info['bus']
        disk.boot_order = boot_order
        if self.conf.libvirt.rbd_user:
            disk.auth_username = self.conf.libvirt.rbd_user
        if self.conf.libvirt.rbd_secret_uuid:
            disk.auth_secret_type = 'ceph'
            disk.auth_secret_uuid = self.conf.libvirt.rbd_secret_uuid
        return disk

    # --- cloning from Glance --------------------------------------------------------

    def clone(self, context, image_id_or_uri):
        """Make this disk a copy-on-write clone of a Glance image.

        ``image_id_or_uri`` is an image id, or an ``rbd://`` location to clone directly.
        When the image has no location in this cluster and
        ``images_rbd_glance_store_name`` is set, Glance copies it there first.

        Raises ``ImageNotCloneable`` when a flat download is the only way left (the
        driver may then use ``create_image``), ``ImageDownloadRefused`` when
        ``[workarounds] never_download_image_if_on_rbd`` forbids that, and the Glance
        and copy errors of :mod:`nova.exception` otherwise.
        """
        if image_id_or_uri.startswith('rbd://'):
            location = rbd_utils.parse_location(image_id_or_uri)
            self._clone_location(location, image_id_or_uri, {'disk_format': 'raw'})
            return
        image_id = image_id_or_uri
        location, image = self._make_local(context, image_id)
        self._clone_location(location, image_id, image)

    def cache_image(self, context, image_id):
        """Make ``image_id`` local to this host's cluster without cloning it.

        Returns True when this call had Glance copy it, False when it was local already.
        """
        found = self._find_local(context, image_id)
        if found[0] is not None:
            return False
        self._make_local(context, image_id, found)
        return True

    def copy_to_store(self, context, image_meta):
        """Have Glance copy the image into our store and wait; return its location."""
        store = self.conf.libvirt.images_rbd_glance_store_name
        pool = self._check_store(context, store, image_meta['id'])
        return self._copy_and_wait(context, image_meta['id'], store, pool)

    def _clone_location(self, location, image_ref, image_meta):
        reason = self.driver.why_not_cloneable(location, image_meta)
        if reason:
            raise exception.ImageNotCloneable(image_id=image_ref, reason=reason)
        self.driver.clone(location, self.rbd_name, dest_pool=self.pool)
        LOG.info('Cloned %(loc)s to %(pool)s/%(name)s',
                 {'loc': location, 'pool': self.pool, 'name': self.rbd_name})

    def _find_local(self, context, image_id):
        """Read the image as the user, check it can boot, and look for a local copy."""
        image = self.glance.show(context, image_id)
        image_copy.check_bootable(image_copy.ImageView.from_image(image))
        locations = self.glance.get_locations(context, image_id)
        location = image_copy.pick_local_location(
            locations, self.driver.get_fsid(), rbd_utils.parse_location,
            preferred_store=self.conf.libvirt.images_rbd_glance_store_name or None)
        return location, image, locations

    def _make_local(self, context, image_id, found=None):
        """A local location of the image, copied there first if need be.

        ``found`` is what ``_find_local`` just returned, when the caller has it.
        """
        location, image, locations = found or self._find_local(context, image_id)
        if location is not None:
            return location, image
        store = self.conf.libvirt.images_rbd_glance_store_name
        if not store:
            self._no_store(image_id, locations)
        pool = self._check_store(context, store, image_id)
        with CopyLock(image_id, self._lock_path()) as lock:
            # A boot that queued behind another re-reads the image: the copy it waited
            # for is usually there now, and it clones without asking Glance again.
            location = self._copy_and_wait(context, image_id, store, pool,
                                           None if lock.waited else image)
        return location, image

    def _no_store(self, image_id, locations):
        """No local location and no store to copy into: flat download, or refuse."""
        reason = ('it has no location in this host\'s Ceph cluster (%s) and '
                  '[libvirt] images_rbd_glance_store_name is not set'
                  % self.driver.get_fsid())
        on_rbd = any((loc.get('url') or '').startswith('rbd://') for loc in locations)
        if on_rbd and self.conf.workarounds.never_download_image_if_on_rbd:
            raise exception.ImageDownloadRefused(
                image_id=image_id,
                reason=reason + '. Set it to the Glance store in this cluster')
        raise exception.ImageNotCloneable(image_id=image_id, reason=reason)

    def _check_store(self, context, store, image_id):
        """Refuse a store in another cluster before copying anything; return its pool.

        Glance tells the pool and fsid of rbd stores to the service and admin roles.
        Without them, the copy still works but is watched through Glance alone.
        """
        detail = self.glance.get_store_detail(context, store)
        if detail is None:
            return None
        if detail.get('type') not in (None, 'rbd'):
            raise exception.InvalidConfiguration(
                option='[libvirt] images_rbd_glance_store_name',
                reason='Glance store %s is a %s store, not rbd: this host can clone only '
                       'from an rbd store in its own Ceph cluster'
                       % (store, detail.get('type')))
        props = detail.get('properties') or {}
        local_fsid = self.driver.get_fsid()
        if image_copy.store_cluster_mismatch(store, props.get('fsid'), local_fsid):
            raise exception.GlanceStoreWrongCluster(
                store=store, store_fsid=props.get('fsid'), local_fsid=local_fsid,
                conf=self.conf.libvirt.images_rbd_ceph_conf or 'librados default')
        return props.get('pool')

    def _lock_path(self):
        group = getattr(self.conf, 'oslo_concurrency', None)
        return getattr(group, 'lock_path', None) if group is not None else None

    def _copy_and_wait(self, context, image_id, store, pool, image=None):
        waiter = CopyWaiter(self, context, image_id, store, pool)
        return waiter.run(image)


class CopyLock(object):
    """One copy request per image per host: boots of the same image queue here.

    Threads share a ``threading.Lock`` per image; with ``[oslo_concurrency] lock_path``
    set, separate processes on the host share a file lock too. ``waited`` says whether
    another holder made us queue, i.e. whether what we read before is stale.
    """

    _locks = weakref.WeakValueDictionary()
    _guard = threading.Lock()

    def __init__(self, image_id, lock_path=None):
        with self._guard:
            self._thread_lock = self._locks.get(image_id)
            if self._thread_lock is None:
                self._thread_lock = self._locks[image_id] = threading.Lock()
        self._file_lock = None
        if lock_path:
            self._file_lock = fasteners.InterProcessLock(
                os.path.join(lock_path, 'nova-rbd-glance-copy-%s' % image_id))
        self.waited = False

    def __enter__(self):
        if not self._thread_lock.acquire(blocking=False):
            self.waited = True
            self._thread_lock.acquire()
        try:
            if (self._file_lock is not None
                    and not self._file_lock.acquire(blocking=False)):
                self.waited = True
                self._file_lock.acquire()
        except BaseException:
            # An unusable lock_path must fail this boot, not hang every later one.
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc):
        if self._file_lock is not None:
            self._file_lock.release()
        self._thread_lock.release()


class CopyWaiter(object):
    """One wait for one image to land in one store: observe, decide, act, repeat."""

    def __init__(self, backend, context, image_id, store, pool):
        self.b = backend
        self.context = context
        self.image_id = image_id
        self.store = store
        self.pool = pool
        libvirt_conf = backend.conf.libvirt
        self.max_interval = libvirt_conf.images_rbd_glance_copy_poll_interval
        self.stall_timeout = libvirt_conf.images_rbd_glance_copy_stall_timeout
        now = backend._clock()
        self.state = image_copy.new_wait_state(
            store, now, libvirt_conf.images_rbd_glance_copy_timeout,
            libvirt_conf.images_rbd_glance_copy_retries)
        self.glance_requests = 0
        self._last_progress_log = now
        self._last_stall_warning = now
        self._progress = None

    def run(self, image=None):
        """Wait until the image is in our store and return its location.

        ``image`` is a fresh read of the image, if the caller has one.
        """
        LOG.info('Image %(image)s has no location in this Ceph cluster; making it '
                 'local through Glance store %(store)s',
                 {'image': self.image_id, 'store': self.store})
        pool_complete = False
        while True:
            if pool_complete:
                # The pool shows the copy done: its location settles it, and Glance
                # registers it within moments; no need to read the whole image.
                for _try in range(image_copy.CONFIRM_TRIES):
                    location = self._local_location()
                    if location is not None:
                        return self._done(location, self.b._clock())
                    self.b._sleep(image_copy.CONFIRM_POLL)
                pool_complete = False
            now = self.b._clock()
            if image is None:
                image = self._glance(self.b.glance.show, self.context, self.image_id)
            view = image_copy.ImageView.from_image(image)
            location = None
            if self.store in view.stores:
                location = self._local_location()
            task = None
            if self.store in view.failed:
                task = image_copy.TaskView.newest(self._glance(
                    self.b.glance.get_image_tasks, self.context, self.image_id))
            self.state = image_copy.observe(self.state, view, now, task,
                                            self._pool_signature())
            step = image_copy.decide(self.state, view, now, location=location,
                                     max_interval=self.max_interval, task=task,
                                     watching_pool=bool(self.pool))
            LOG.debug('Copy of %(image)s to %(store)s: %(action)s (%(reason)s)',
                      {'image': self.image_id, 'store': self.store,
                       'action': step.action.value, 'reason': step.reason})
            if step.action is image_copy.Action.CLONE:
                return self._done(location, now)
            if step.action is image_copy.Action.FAIL:
                raise step.error
            delay = step.delay
            if step.action is image_copy.Action.REQUEST_COPY:
                self._request_copy(step.reason)
                # Give the copy a moment to start (or to fail at once) before reading
                # the image again; the pool watch sees a quick copy finish meanwhile.
                delay = image_copy.AFTER_REQUEST_POLL
            pool_complete = self._wait(delay, view)
            image = None

    def _done(self, location, now):
        LOG.info('Image %(image)s is in store %(store)s after %(t).2f s '
                 '(%(n)d Glance requests while waiting)',
                 {'image': self.image_id, 'store': self.store,
                  't': now - self.state.started, 'n': self.glance_requests})
        return location

    def _glance(self, call, *args):
        self.glance_requests += 1
        return call(*args)

    def _local_location(self):
        locations = self._glance(self.b.glance.get_locations, self.context, self.image_id)
        return image_copy.pick_local_location(
            locations, self.b.driver.get_fsid(), rbd_utils.parse_location,
            preferred_store=self.store)

    def _request_copy(self, reason):
        LOG.info('Asking Glance to copy image %(image)s to store %(store)s (%(why)s)',
                 {'image': self.image_id, 'store': self.store, 'why': reason})
        try:
            self._glance(self.b.glance.image_import, self.context, self.image_id,
                         'copy-image', [self.store])
        except exception.ImageImportInProgress as e:
            # Another host (or a Glance task) got there first: wait for it.
            LOG.info('%s Waiting for it.', e)
        except exception.ImageAlreadyInStore:
            LOG.debug('Image %s reached store %s meanwhile', self.image_id, self.store)
        else:
            self.state = image_copy.requested(self.state, self.b._clock())

    def _pool_signature(self):
        p = self._progress
        if p is None:
            return ()
        return (p.exists, p.written_bytes, p.snapshot_protected)

    def _wait(self, delay, view):
        """Sleep ``delay`` s, watching the local pool; True when it shows the copy done.

        Returns early, False, when the copy's image vanishes from the pool: Glance
        removes a failed copy's partial image, so Glance has news.
        """
        end = self.b._clock() + delay
        existed = self._progress is not None and self._progress.exists
        while True:
            if self._watch_pool(view):
                return True
            if existed and not self._progress.exists:
                return False
            existed = existed or (self._progress is not None and self._progress.exists)
            now = self.b._clock()
            self._report(now, view)
            if now >= end:
                return False
            self.b._sleep(min(POOL_WATCH_INTERVAL if self.pool else delay, end - now))

    def _watch_pool(self, view):
        """Look at ``<pool>/<image_id>`` where Glance's rbd store writes the copy."""
        if not self.pool:
            return False
        try:
            self._progress = self.b.driver.copy_progress(
                self.pool, self.image_id, snapshot=GLANCE_SNAPSHOT)
        except exception.NovaException as e:
            # Only an optimisation: Glance stays the source of truth.
            LOG.debug('Cannot watch %s/%s: %s', self.pool, self.image_id, e)
            self.pool = None
            return False
        return bool(self._progress.snapshot_protected)

    def _report(self, now, view):
        if now - self._last_progress_log >= PROGRESS_LOG_INTERVAL:
            self._last_progress_log = now
            p = self._progress
            if p is not None and p.exists and view.size:
                LOG.info('Copying image %(image)s to store %(store)s: %(done)d of '
                         '%(size)d MiB (%(pct)d%%) after %(t).0f s',
                         {'image': self.image_id, 'store': self.store,
                          'done': p.written_bytes // units.Mi,
                          'size': view.size // units.Mi,
                          'pct': 100 * p.written_bytes // view.size,
                          't': now - self.state.started})
            else:
                LOG.info('Waiting for image %(image)s to reach store %(store)s: '
                         '%(t).0f s so far (importing to: %(imp)s)',
                         {'image': self.image_id, 'store': self.store,
                          't': now - self.state.started,
                          'imp': ', '.join(sorted(view.importing)) or 'none'})
        stalled = image_copy.stalled_for(self.state, now)
        if (stalled >= self.stall_timeout
                and now - self._last_stall_warning >= self.stall_timeout):
            self._last_stall_warning = now
            LOG.warning('No progress copying image %(image)s to store %(store)s for '
                        '%(t).0f s; Glance import task %(task)s holds the image. A '
                        'Glance worker that died mid-copy keeps this lock for up to an '
                        'hour: check the Glance API logs for that task.',
                        {'image': self.image_id, 'store': self.store, 't': stalled,
                         'task': view.task_id or '(none)'})


class Backend(object):
    """Hands out the image backend objects of one compute host.

    One ``Backend`` holds one RBD driver (and so one cluster connection) and one Glance
    API object for all the instances of the host.
    """

    def __init__(self, conf=CONF, glance_api=None, rbd_driver=None):
        self.conf = conf
        self._glance = glance_api
        self._rbd_driver = rbd_driver
        self._lock = threading.Lock()

    def _collaborators(self):
        with self._lock:
            if self._rbd_driver is None:
                self._rbd_driver = rbd_utils.RBDDriver.from_conf(self.conf)
            if self._glance is None:
                from nova.image import glance
                self._glance = glance.API()
            return self._glance, self._rbd_driver

    def by_name(self, instance, disk_name, image_type=None):
        image_type = image_type or self.conf.libvirt.images_type
        if image_type != 'rbd':
            raise exception.InvalidConfiguration(
                option='[libvirt] images_type',
                reason='%r is not supported by this tree; set it to rbd' % image_type)
        glance_api, driver = self._collaborators()
        return Rbd(instance=instance, disk_name=disk_name, conf=self.conf,
                   glance_api=glance_api, rbd_driver=driver)
