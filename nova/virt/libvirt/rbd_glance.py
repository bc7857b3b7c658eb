# Copyright 2026 The rbd-glance-multistore-copy authors
#
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""The rbd image backend, cloning from a Glance store in this host's cluster.

:class:`Rbd` keeps nova-compute's contract of the upstream backend
(``clone`` and ``copy_to_store``, ``ImageUnacceptable`` for every failure the
driver turns into a download or an aborted build) and changes how an image
that has no location in this host's Ceph cluster is made local:

* the store named by ``[libvirt] images_rbd_glance_store_name`` is checked
  first (an rbd store, in this cluster) so that a wrong setting fails with
  a message instead of a copy that can never be cloned;
* Glance is asked to copy the image once per host (Nova's per-image lock),
  and a 409 because another host's copy holds the image is waited for;
* the store's pool is watched while Glance copies, so the end of a copy is
  seen within a fraction of a second while Glance is polled with a backoff;
* a failed copy (``os_glance_failed_import`` and the image's import task)
  is noticed at once and retried with a backoff;
* locations are read with Glance's locations API through the Glance layer,
  with Nova's service credentials when they are configured.

The decisions are plain functions in :mod:`nova.virt.libvirt.image_copy`;
this module does the I/O around them.
"""

import os
import time

from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import units

import nova.conf
from nova import exception
from nova.i18n import _
from nova.image import glance_multistore
from nova.storage import rbd_multistore
from nova.storage import rbd_utils
from nova import utils
from nova.virt.libvirt import image_copy
from nova.virt.libvirt import imagebackend

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)

# How often the store's pool is looked at while Glance copies into it: one
# RADOS round trip, and the reason a finished copy is seen within a fraction
# of a second whatever the Glance poll interval is.
POOL_WATCH_INTERVAL = 0.15
# How often a copy's progress is logged at INFO.
PROGRESS_LOG_INTERVAL = 5.0
# Prefix of Nova's per-image lock around a copy. It must differ from the
# name Image.cache() locks (the image's cache file name): clone() runs
# under that lock already.
COPY_LOCK_PREFIX = 'rbd-glance-copy-'
# Nova's locks cannot time out: a boot queued behind another boot of the
# same image tries the lock without blocking, first every LOCK_POLL_FIRST
# seconds, doubling up to LOCK_POLL_MAX, and never past its deadline.
LOCK_POLL_FIRST = 0.05
LOCK_POLL_MAX = 1.0
# Bound of each Ceph operation of one look at the pool (a few metadata
# reads a healthy cluster answers in milliseconds): an OSD that stopped
# answering costs the wait this long once, after which it watches Glance
# only, instead of the 30 s of the other reads.
POOL_WATCH_OP_TIMEOUT = 10.0


def _lock_path():
    return os.path.join(CONF.instances_path, 'locks')


class ClusterReads(object):
    """This host's Ceph cluster as the copy wait reads it.

    :mod:`nova.storage.rbd_multistore`'s functions over the backend's
    ``RBDDriver`` (upstream's, as nova-compute builds it), plus the state
    one wait keeps between pool reads. ``deadline`` (on ``clock``), when
    set, is the boot's: every Ceph operation of a read ends by then (librados
    bounds them in whole seconds, at least one).
    """

    def __init__(self, driver, clock=time.monotonic):
        self.driver = driver
        self.clock = clock
        self.deadline = None
        self._written = {}

    def _timeout(self, limit=None):
        """Seconds a read may take: ``limit``, or less near the deadline."""
        if self.deadline is None:
            return limit
        left = max(0.0, self.deadline - self.clock())
        return left if limit is None else min(limit, left)

    def cluster_fsid(self):
        return rbd_multistore.cluster_fsid(self.driver,
                                           timeout=self._timeout())

    def why_not_cloneable(self, location, image_meta):
        return rbd_multistore.why_not_cloneable(self.driver, location,
                                                image_meta,
                                                timeout=self._timeout())

    def copy_progress(self, pool, name,
                      snapshot=rbd_multistore.GLANCE_SNAPSHOT):
        return rbd_multistore.copy_progress(
            self.driver, pool, name, snapshot=snapshot, cache=self._written,
            timeout=self._timeout(POOL_WATCH_OP_TIMEOUT))


class GlanceCopy(object):
    """Makes Glance images local to this host's Ceph cluster.

    Shared by the backend (which then clones) and by image precaching
    (which does not). ``glance_api`` is ``nova.image.glance.API`` with the
    multi-store calls of :mod:`nova.image.glance_multistore`; ``cluster`` is
    a :class:`ClusterReads` (or a test double with its methods).
    """

    def __init__(self, glance_api, cluster, clock, sleep, instance=None,
                 wall=None):
        self.glance = glance_api
        self.cluster = cluster
        self.clock = clock
        self.sleep = sleep
        self.instance = instance
        # UTC wall time (naive datetime), to age Glance's tasks.
        self.wall = wall or timeutils.utcnow
        self._fsid = None

    def new_deadline(self):
        """The deadline of a boot that asks now: everything it does for
        the copy (Glance requests, Ceph reads, Nova's lock, the wait) ends
        by then. The cluster's reads are bounded by it from now on.
        """
        deadline = self.clock() + CONF.libvirt.images_rbd_glance_copy_timeout
        self.cluster.deadline = deadline
        return deadline

    def call(self, method, *args, deadline=None):
        """A Glance API call, its timeout what is left before
        ``deadline``.
        """
        kwargs = {}
        if deadline is not None:
            kwargs['timeout'] = max(0.001, deadline - self.clock())
        return getattr(self.glance, method)(*args, **kwargs)

    @property
    def fsid(self):
        """This host's cluster fsid, read once (one RADOS connection)."""
        if self._fsid is None:
            self._fsid = self.cluster.cluster_fsid()
        return self._fsid

    def read_image(self, context, image_ref, deadline=None):
        """The image as the booting user sees it, checked for cloning.

        ``image_ref`` is what nova-compute passed: an image UUID or a Glance
        image URL ending in one (InvalidImageReference otherwise).
        """
        image_id = image_copy.image_id_of(image_ref)
        image = self.call('read_image', context, image_ref, deadline=deadline)
        image_copy.check_read_image(image, image_id)
        image_copy.check_bootable(
            image_copy.ImageView.from_image(image, image_id))
        return image

    def local_locations(self, context, image_id, store=None, deadline=None):
        """The image's own locations in this cluster, ``store``'s first."""
        locations = self.call('get_image_locations', context, image_id,
                              deadline=deadline)
        return image_copy.local_locations(
            locations, self.fsid, rbd_multistore.parse_location,
            preferred_store=store, image_id=image_id)

    def check_store(self, context, image_id, store, deadline=None):
        """Refuse a store that cannot serve this host; return its pool.

        Glance describes its stores to the service and admin roles; without
        them the copy still works but is watched through Glance alone.
        """
        detail = self.call('get_store_detail', context, store,
                           deadline=deadline)
        if detail is None:
            LOG.debug('Glance does not describe store %s; its cluster is '
                      'not checked and its pool not watched', store,
                      instance=self.instance)
            return None
        return image_copy.check_store(image_id, store, detail, self.fsid)

    def copy(self, context, image_id, store, deadline=None):
        """Have Glance copy the image into ``store``; return its location.

        One copy at a time per image on this host, under Nova's lock; a
        boot that queued behind another usually finds the copy done.
        ``deadline`` (the boot's, set when it asked) bounds all of it, the
        wait for the lock included.
        """
        asked_at = self.clock()
        if deadline is None:
            deadline = self.new_deadline()
        pool = self.check_store(context, image_id, store, deadline=deadline)

        def _copy_locked():
            return CopyWaiter(self, context, image_id, store, pool,
                              deadline=deadline, asked_at=asked_at).run()

        return self._locked(COPY_LOCK_PREFIX + image_id, deadline, asked_at,
                            image_id, store, _copy_locked)

    def _locked(self, name, deadline, asked_at, image_id, store, func):
        """``func()`` under Nova's external lock ``name``, waiting for the
        lock no later than ``deadline``.

        ``utils.synchronized`` blocks without a bound; a non-blocking try,
        repeated with a backoff, keeps the boot's deadline.
        """
        delay = LOCK_POLL_FIRST
        tries = 0
        while True:
            entered = []

            def _run():
                entered.append(True)
                return func()

            tries += 1
            try:
                return utils.synchronized(name, external=True,
                                          lock_path=_lock_path(),
                                          blocking=False)(_run)()
            except lockutils.AcquireLockFailedException:
                if entered:
                    raise
            now = self.clock()
            if now >= deadline:
                raise image_copy.ImageCopyTimeout(
                    image_id=image_id, store=store,
                    timeout=round(deadline - asked_at),
                    detail=_('another boot of this image on this host held '
                             'Nova\'s copy lock %(name)s for the whole time '
                             '(%(tries)d tries); that boot reports how its '
                             'copy went') % {'name': name, 'tries': tries})
            if tries == 1:
                LOG.info('Another boot of image %(image)s on this host is '
                         'making it local; waiting for it (at most %(left).0f '
                         's)', {'image': image_id, 'left': deadline - now},
                         instance=self.instance)
            self.sleep(min(delay, deadline - now))
            delay = min(delay * 2, LOCK_POLL_MAX)


class CopyWaiter(object):
    """One wait for one image to land in one store: observe, decide, act."""

    def __init__(self, copier, context, image_id, store, pool, deadline=None,
                 asked_at=None):
        self.c = copier
        self.context = context
        self.image_id = image_id
        self.store = store
        self.pool = pool
        self.instance = copier.instance
        conf = CONF.libvirt
        now = copier.clock()
        self.state = image_copy.new_wait_state(
            store, now, conf.images_rbd_glance_copy_timeout,
            conf.images_rbd_glance_copy_retries,
            max_interval=conf.images_rbd_glance_copy_poll_interval,
            stall_timeout=conf.images_rbd_glance_copy_stall_timeout,
            watch_pool=bool(pool), deadline=deadline, started=asked_at)
        self.glance_requests = 0
        self.view = None
        self.written_bytes = None
        self._last_progress_log = now

    def run(self):
        """Wait until the image is in our store and return its location."""
        LOG.info('Image %(image)s has no location in this Ceph cluster; '
                 'making it local through Glance store %(store)s',
                 {'image': self.image_id, 'store': self.store},
                 instance=self.instance)
        step = None
        while True:
            now = self.c.clock()
            try:
                location, task = self._observe(step, now)
            except Exception as e:
                if not glance_multistore.is_transient(e):
                    raise
                step = self._glance_fault(e, now)
                continue
            self.state = image_copy.glance_answered(self.state)
            step = image_copy.decide(self.state, self.view, now,
                                     location=location, task=task)
            LOG.debug('Copy of image %(image)s to %(store)s: %(action)s '
                      '(%(reason)s)',
                      {'image': self.image_id, 'store': self.store,
                       'action': step.action.value, 'reason': step.reason},
                      instance=self.instance)
            if step.stalled is not None:
                self._warn_stalled(step.stalled, now)
            if step.action is image_copy.Action.CLONE:
                return self._done(location, now)
            if step.action is image_copy.Action.FAIL:
                LOG.warning('Copy of image %(image)s to store %(store)s '
                            'failed: %(reason)s',
                            {'image': self.image_id, 'store': self.store,
                             'reason': step.error},
                            instance=self.instance)
                raise step.error
            if step.action is image_copy.Action.REQUEST_COPY:
                try:
                    self._request_copy(step.reason)
                except Exception as e:
                    if not glance_multistore.is_transient(e):
                        raise
                    step = self._request_fault(e, self.c.clock())
                    continue
            if step.action is image_copy.Action.CONFIRM:
                self.c.sleep(step.delay)
            else:
                self._wait(step.delay)

    def _observe(self, step, now):
        """Read Glance (the image, or only its locations while confirming)
        and fold what it says into the state; return (location, task).
        """
        task = None
        if step is not None and step.action is image_copy.Action.CONFIRM:
            location = self._local_location()
            if location is None:
                self.state = image_copy.observe_locations(self.state)
            return location, task
        try:
            image = self._glance('read_image', self.context, self.image_id)
        except exception.ImageNotFound:
            # It was there when the boot began: it went away meanwhile.
            raise image_copy.ImageDeletedDuringCopy(
                image_id=self.image_id, store=self.store,
                elapsed=now - self.state.started)
        self.view = image_copy.ImageView.from_image(image, self.image_id)
        location = None
        if self.store in self.view.stores:
            location = self._local_location()
        holder_listed = None
        if image_copy.wants_task(self.state, self.view, now):
            tasks = self._glance('get_image_tasks', self.context,
                                 self.image_id)
            wall = self.c.wall()
            if self.view.task_id:
                task = image_copy.TaskView.find(tasks, self.view.task_id,
                                                wall)
                holder_listed = task is not None
                task = task or image_copy.TaskView.newest(tasks, wall)
            else:
                task = image_copy.TaskView.newest(tasks, wall)
            self.state = image_copy.task_checked(self.state, now)
        self.state = image_copy.observe(self.state, self.view, now, task,
                                        holder_listed=holder_listed)
        return location, task

    def _glance_fault(self, error, now):
        """A transient Glance fault: log it, back off, or time out."""
        reason = glance_multistore.describe_fault(error)
        self.state = image_copy.glance_failed(self.state, now, reason)
        step = image_copy.after_glance_failure(self.state, self.view, now,
                                               self.image_id)
        if step.action is image_copy.Action.FAIL:
            LOG.warning('Copy of image %(image)s to store %(store)s '
                        'failed: %(reason)s',
                        {'image': self.image_id, 'store': self.store,
                         'reason': step.error}, instance=self.instance)
            raise step.error
        LOG.warning('Glance request %(n)d for the copy of image %(image)s '
                    'failed (%(reason)s); trying again in %(delay).1f s, '
                    'until %(left).0f s from now',
                    {'n': self.state.transient_total, 'image': self.image_id,
                     'reason': reason, 'delay': step.delay,
                     'left': self.state.deadline - now},
                    instance=self.instance)
        self.c.sleep(step.delay)
        return None

    def _request_fault(self, error, now):
        """A transient fault of our copy request: log it; the next request
        backs off while the wait goes on reading the image.
        """
        reason = glance_multistore.describe_fault(error)
        self.state = image_copy.request_failed(self.state, now, reason)
        LOG.warning('Glance request %(n)d for the copy of image %(image)s '
                    'failed (%(reason)s); asking again in %(delay).1f s, '
                    'until %(left).0f s from now',
                    {'n': self.state.transient_total, 'image': self.image_id,
                     'reason': reason,
                     'delay': max(0.0, self.state.not_before - now),
                     'left': self.state.deadline - now},
                    instance=self.instance)
        return None

    def _done(self, location, now):
        LOG.info('Image %(image)s is in store %(store)s after %(t).2f s '
                 '(%(n)d Glance requests while waiting)',
                 {'image': self.image_id, 'store': self.store,
                  't': now - self.state.started, 'n': self.glance_requests},
                 instance=self.instance)
        return location

    def _glance(self, method, *args):
        self.glance_requests += 1
        return self.c.call(method, *args, deadline=self.state.deadline)

    def _local_location(self):
        locations = self._glance('get_image_locations', self.context,
                                 self.image_id)
        return image_copy.pick_local_location(
            locations, self.c.fsid, rbd_multistore.parse_location,
            preferred_store=self.store, image_id=self.image_id,
            pool=self.pool)

    def _request_copy(self, reason):
        LOG.info('Asking Glance to copy image %(image)s to store %(store)s '
                 '(%(why)s)',
                 {'image': self.image_id, 'store': self.store, 'why': reason},
                 instance=self.instance)
        try:
            self._glance('image_import', self.context, self.image_id,
                         'copy-image', [self.store])
        except glance_multistore.ImageImportInProgress as e:
            # Another host (or another import) got there first: wait for it,
            # asking again only after a backoff.
            self.state = image_copy.conflicted(self.state, self.c.clock())
            LOG.info('%s Waiting for it.', e.format_message(),
                     instance=self.instance)
        except glance_multistore.ImageAlreadyInStore:
            LOG.debug('Image %(image)s reached store %(store)s meanwhile',
                      {'image': self.image_id, 'store': self.store},
                      instance=self.instance)
        else:
            self.state = image_copy.requested(self.state, self.c.clock())

    def _wait(self, delay):
        """Sleep ``delay`` s, watching the pool; end early when it has news."""
        end = self.c.clock() + delay
        while True:
            now = self.c.clock()
            if self.state.watch_pool:
                self._watch_pool(now)
                if image_copy.wake_early(self.state):
                    return
            self._report(now)
            if now >= end:
                return
            interval = POOL_WATCH_INTERVAL if self.state.watch_pool else delay
            self.c.sleep(min(interval, end - now))

    def _watch_pool(self, now):
        """Look at ``<pool>/<image_id>``, where Glance's rbd store writes."""
        try:
            progress = self.c.cluster.copy_progress(
                self.pool, self.image_id,
                snapshot=rbd_multistore.GLANCE_SNAPSHOT)
        except exception.NovaException as e:
            # Only an optimisation: Glance stays the source of truth. The
            # reason is kept for the error the wait may end with.
            timed_out = isinstance(e, rbd_multistore.CephTimedOut)
            (LOG.warning if timed_out else LOG.debug)(
                'Cannot watch %(pool)s/%(image)s, watching Glance only: '
                '%(error)s', {'pool': self.pool, 'image': self.image_id,
                              'error': e}, instance=self.instance)
            self.state = image_copy.pool_unwatchable(
                self.state, reason=e.format_message(), timed_out=timed_out)
            return
        pool = image_copy.PoolView.from_progress(progress)
        self.written_bytes = pool.written_bytes if pool.exists else None
        self.state = image_copy.observe_pool(self.state, pool, now)

    def _report(self, now):
        if now - self._last_progress_log < PROGRESS_LOG_INTERVAL:
            return
        self._last_progress_log = now
        size = self.view.size if self.view is not None else 0
        if self.written_bytes is not None and size:
            LOG.info('Copying image %(image)s to store %(store)s: %(done)d '
                     'of %(size)d MiB (%(pct)d%%) after %(t).0f s',
                     {'image': self.image_id, 'store': self.store,
                      'done': self.written_bytes // units.Mi,
                      'size': size // units.Mi,
                      'pct': min(100, 100 * self.written_bytes // size),
                      't': now - self.state.started},
                     instance=self.instance)
        else:
            importing = self.view.importing if self.view else ()
            LOG.info('Waiting for image %(image)s to reach store %(store)s: '
                     '%(t).0f s so far (importing to: %(imp)s)',
                     {'image': self.image_id, 'store': self.store,
                      't': now - self.state.started,
                      'imp': ', '.join(sorted(importing)) or 'none'},
                     instance=self.instance)

    def _warn_stalled(self, stalled, now):
        task = self.view.task_id if self.view is not None else ''
        LOG.warning('No progress copying image %(image)s to store %(store)s '
                    'for %(t).0f s; Glance import task %(task)s holds the '
                    'image. A Glance worker that died during a copy keeps '
                    'this lock for up to an hour: look for the task in the '
                    'Glance API logs.',
                    {'image': self.image_id, 'store': self.store,
                     't': stalled, 'task': task or '(none)'},
                    instance=self.instance)
        self.state = image_copy.warned(self.state, now)


class Rbd(imagebackend.Rbd):
    """Upstream's rbd backend, making images local through a Glance store.

    Same constructor as upstream's, and the same ``self.driver``
    (``rbd_utils.RBDDriver``); the multi-store reads are functions over it
    (:class:`ClusterReads`). ``glance_api``, ``rbd_driver``, ``cluster``,
    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(self, instance=None, disk_name=None, path=None,
                 disk_info_mapping=None, *, glance_api=None, rbd_driver=None,
                 cluster=None, clock=None, sleep=None, wall=None):
        super().__init__(instance=instance, disk_name=disk_name, path=path,
                         disk_info_mapping=disk_info_mapping)
        if rbd_driver is not None:
            self.driver = rbd_driver
        self._clock = clock or time.monotonic
        self._cluster = cluster or ClusterReads(self.driver, self._clock)
        self._instance = instance
        self._glance_api = glance_api
        self._sleep = sleep or time.sleep
        self._wall = wall
        self._glance_copy = None
        # The deadline of the clone() in progress (set when it starts).
        self._deadline = None

    def _copier(self):
        if self._glance_copy is None:
            self._glance_copy = GlanceCopy(
                self._glance_api or imagebackend.IMAGE_API, self._cluster,
                self._clock, self._sleep, instance=self._instance,
                wall=self._wall)
        return self._glance_copy

    def clone(self, context, image_id_or_uri, copy_to_store=True):
        """Make this disk a copy-on-write clone of a Glance image.

        When the image has no location in this cluster and ``copy_to_store``
        is True, Glance first copies it into ``[libvirt]
        images_rbd_glance_store_name`` (when set).

        :raises: ImageUnacceptable (an image_copy subclass saying why) when
            the image cannot be cloned here: nova-compute then downloads it,
            or aborts the build with ``[workarounds]
            never_download_image_if_on_rbd``.
        """
        copier = self._copier()
        if copy_to_store or self._deadline is None:
            # The boot asks now: one deadline for all it does.
            self._deadline = copier.new_deadline()
        deadline = self._deadline
        image = copier.read_image(context, image_id_or_uri, deadline)
        image_id = image_copy.image_id_of(image_id_or_uri)
        store = CONF.libvirt.images_rbd_glance_store_name or None
        reasons = []
        for location in copier.local_locations(context, image_id, store,
                                               deadline):
            why = self._cluster.why_not_cloneable(location, image)
            if why is None:
                return self._clone_location(location, image_id)
            reasons.append('%s: %s' % (location.url, why))
        view = image_copy.ImageView.from_image(image, image_id)
        # A location of our store that cannot be cloned is not mended by
        # copying: Glance would answer that the image is there already.
        in_store = bool(reasons) and store in view.stores
        if store and copy_to_store and not in_store:
            location = self.copy_to_store(context, image)
            why = self._cluster.why_not_cloneable(location, image)
            if why is not None:
                raise image_copy.ImageNotCloneable(
                    image_id=image_id, reason='%s: %s' % (location.url, why))
            return self._clone_location(location, image_id)
        raise image_copy.ImageNotCloneable(
            image_id=image_id, reason=image_copy.no_location_reason(
                copier.fsid, reasons, store_set=bool(store)))

    def copy_to_store(self, context, image_meta):
        """Have Glance copy the image into our store and wait for it.

        Returns the image's location in this cluster (upstream returns
        nothing; its callers ignore the value).
        """
        store = CONF.libvirt.images_rbd_glance_store_name
        image_id = image_copy.image_id_of(image_meta.get('id'))
        return self._copier().copy(context, image_id, store,
                                   deadline=self._deadline)

    def _clone_location(self, location, image_id):
        self.driver.clone({'url': location.url}, self.rbd_name)
        LOG.info('Cloned image %(image)s from %(location)s to %(pool)s/'
                 '%(name)s',
                 {'image': image_id, 'location': location.url,
                  'pool': self.driver.pool, 'name': self.rbd_name},
                 instance=self._instance)


def cache_image(context, image_id, glance_api=None, cluster=None,
                clock=None, sleep=None, wall=None):
    """Make ``image_id`` local to this host's Ceph cluster without cloning.

    For image precaching with ``[libvirt] images_type = rbd``: the image is
    copied into ``[libvirt] images_rbd_glance_store_name`` when it has no
    location in this cluster yet. Returns True when this call had Glance
    copy it, False when it was local already.

    :raises: ImageUnacceptable (an image_copy subclass) when it cannot be
        made local.
    """
    clock = clock or time.monotonic
    copier = GlanceCopy(glance_api or imagebackend.IMAGE_API,
                        cluster or ClusterReads(rbd_utils.RBDDriver(), clock),
                        clock, sleep or time.sleep, wall=wall)
    deadline = copier.new_deadline()
    copier.read_image(context, image_id, deadline)
    image_id = image_copy.image_id_of(image_id)
    store = CONF.libvirt.images_rbd_glance_store_name
    if copier.local_locations(context, image_id, store or None, deadline):
        return False
    if not store:
        raise image_copy.ImageNotCloneable(
            image_id=image_id,
            reason=image_copy.no_location_reason(copier.fsid))
    copier.copy(context, image_id, store, deadline=deadline)
    return True
