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

"""A model of Glance's copy-image behaviour on a fake clock, for unit tests.

It reproduces what was measured on Glance 33: the per-image import lock
(``os_glance_import_task``, 409 while held), ``os_glance_importing_to_stores``
during a copy, ``os_glance_failed_import`` that stays until the next copy
starts, 400 "already present", an unknown store, the copy landing in the
store's pool as ``<pool>/<image_id>`` with a protected ``snap`` before Glance
registers the location, and the lock outliving the ``stores`` update by a few
milliseconds. The image is served as Nova's ``API.get`` returns it: schema
keys at the top level, ``os_glance_*`` under ``properties``.

The live tests check the real services; this makes every branch of the wait
loop reachable, deterministically, in milliseconds.
"""

import collections
import dataclasses
import datetime
import threading

from nova import context as nova_context
from nova import exception
from nova.image import glance_multistore
from nova.storage import rbd_multistore

IMAGE_ID = '0c2f5a7e-3d4b-4e1f-9a8c-6b5d4e3f2a10'
FSID_A = 'aaaaaaaa-0000-4000-8000-000000000001'
FSID_B = 'bbbbbbbb-0000-4000-8000-000000000002'
# store -> (type, fsid, pool)
STORES = {
    'central': ('file', None, None),
    'site_a': ('rbd', FSID_A, 'images'),
    'site_b': ('rbd', FSID_B, 'images'),
}
MiB = 1 << 20
# Far from 0, so that ``now - t`` written as ``now + t`` (or a deadline of
# ``timeout`` instead of ``now + timeout``) shows in the tests.
EPOCH = 1e6
# The UTC wall time at EPOCH, for Glance's task times.
WALL_EPOCH = datetime.datetime(2026, 1, 1, 0, 0, 0)
# A running Glance copy updates its task this often ("Copied N MiB").
TASK_HEARTBEAT = 60.0


class Clock(object):
    """A clock that moves only when someone sleeps."""

    def __init__(self, start=EPOCH):
        self.now = float(start)
        self.start = float(start)
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += max(seconds, 0.0)

    def elapsed(self):
        return self.now - self.start

    def wall(self):
        """UTC wall time, a naive datetime, moving with the clock."""
        return WALL_EPOCH + datetime.timedelta(seconds=self.now - EPOCH)

    def iso(self, at=None):
        at = self.now if at is None else at
        return (WALL_EPOCH + datetime.timedelta(seconds=at - EPOCH)
                ).strftime('%Y-%m-%dT%H:%M:%SZ')


@dataclasses.dataclass
class Copy:
    task_id: str
    store: str
    started: float
    fails: bool
    # A Glance worker that died: nothing moves, the lock stays.
    dead: bool = False
    updated: float = 0.0


class SimGlance(object):
    """``nova.image.glance.API`` with one image, driven by ``clock``."""

    def __init__(self, clock, image_id=IMAGE_ID, stores=('central',),
                 size=64 * MiB, copy_seconds=1.5, register_lag=0.05,
                 lock_lag=0.01, fail_copies=0, disk_format='raw',
                 status='active', store_detail=True):
        self.clock = clock
        self.image_id = image_id
        self.size = size
        self.copy_seconds = copy_seconds
        self.register_lag = register_lag
        self.lock_lag = lock_lag
        self.fail_copies = fail_copies
        self.store_detail = store_detail
        self.image = {'id': image_id, 'status': status,
                      'disk_format': disk_format, 'size': size,
                      'stores': ','.join(stores)}
        self.props = {}
        self.locations = [self._location(s) for s in stores]
        self.tasks = []
        self.copy = None
        self.calls = collections.Counter()
        self.contexts = []
        self.import_log = []
        self.registered_at = {}
        self.timeouts = []
        self.dead_at = None
        self.deleted = False
        self.mutex = threading.RLock()

    # --- what tests look at or set up -------------------------------------

    def _location(self, store):
        store_type, fsid, pool = STORES[store]
        if store_type != 'rbd':
            return {'url': 'file:///glance/%s' % self.image_id,
                    'metadata': {'store': store}}
        return {'url': 'rbd://%s/%s/%s/snap' % (fsid, pool, self.image_id),
                'metadata': {'store': store}}

    def start_other_import(self, store, fails=False):
        """An import started elsewhere (another host or an operator)."""
        with self.mutex:
            self._start(store, fails)

    def stores(self):
        return self.image['stores'].split(',')

    # --- the model --------------------------------------------------------

    def _start(self, store, fails):
        task_id = 'task-%d' % (len(self.tasks) + 1)
        now = self.clock()
        self.copy = Copy(task_id, store, now, fails, updated=now)
        self.tasks.append({'id': task_id, 'type': 'api_image_import',
                           'status': 'processing', 'message': '',
                           'created_at': self.clock.iso(now),
                           'updated_at': self.clock.iso(now)})
        self.props['os_glance_import_task'] = task_id
        self.props['os_glance_importing_to_stores'] = store
        failed = set(filter(None, self.props.get(
            'os_glance_failed_import', '').split(',')))
        failed.discard(store)
        self.props['os_glance_failed_import'] = ','.join(sorted(failed))

    def kill_worker(self):
        """The Glance worker running the copy dies: task and lock stay."""
        with self.mutex:
            self._advance()
            self.copy.dead = True
            self.dead_at = self.clock()

    def _advance(self):
        c = self.copy
        if c is None or c.dead:
            return
        now = self.clock()
        while now - c.updated >= TASK_HEARTBEAT:
            c.updated += TASK_HEARTBEAT
            self.tasks[-1]['updated_at'] = self.clock.iso(c.updated)
        done = c.started + self.copy_seconds
        task = self.tasks[-1]
        if c.fails and now >= done:
            self.props['os_glance_failed_import'] = c.store
            self.props['os_glance_importing_to_stores'] = ''
            self.props.pop('os_glance_import_task', None)
            task.update(status='failure',
                        message='Task failed due to Internal Error')
            self.copy = None
        elif not c.fails and now >= done + self.register_lag:
            if c.store not in self.stores():
                self.image['stores'] += ',' + c.store
                self.locations.append(self._location(c.store))
                self.registered_at[c.store] = done + self.register_lag
            self.props['os_glance_importing_to_stores'] = ''
            if now >= done + self.register_lag + self.lock_lag:
                self.props.pop('os_glance_import_task', None)
                task.update(status='success')
                self.copy = None

    def pool_state(self, store):
        """(exists, written, protected) of the copy in ``store``'s pool."""
        with self.mutex:
            self._advance()
            if store in self.stores():
                return True, self.size, True
            c = self.copy
            if c is None or c.store != store:
                return False, 0, False
            end = self.dead_at if c.dead else self.clock()
            elapsed = end - c.started
            if c.fails and elapsed >= self.copy_seconds:
                return False, 0, False
            frac = min(1.0, elapsed / self.copy_seconds)
            return True, int(self.size * frac), elapsed >= self.copy_seconds

    # --- the nova.image.glance.API surface ----------------------------------

    def read_image(self, context, image_id, timeout=None):
        self.timeouts.append(('read_image', timeout))
        return self.get(context, image_id)

    def _caller(self, method, context):
        """Every call carries the booting user's request context (Nova's
        Glance layer reads its token and request id).
        """
        self.contexts.append((method, context))
        if not isinstance(context, nova_context.RequestContext):
            raise TypeError('%s: %r is not a request context'
                            % (method, context))

    def get(self, context, image_id):
        with self.mutex:
            self.calls['get'] += 1
            self._caller('get', context)
            self._check(image_id)
            self._advance()
            image = dict(self.image, properties=dict(self.props))
            return image

    def get_image_locations(self, context, image_id, timeout=None):
        self.timeouts.append(('get_image_locations', timeout))
        with self.mutex:
            self.calls['get_image_locations'] += 1
            self._caller('get_image_locations', context)
            self._check(image_id)
            self._advance()
            return [dict(loc) for loc in self.locations]

    def get_image_tasks(self, context, image_id, timeout=None):
        self.timeouts.append(('get_image_tasks', timeout))
        with self.mutex:
            self.calls['get_image_tasks'] += 1
            self._caller('get_image_tasks', context)
            if image_id != self.image_id or self.deleted:
                # Glance answers 404, which the Glance layer reads as no
                # task visible.
                return []
            self._advance()
            return [dict(t) for t in self.tasks]

    def get_store_detail(self, context, store, timeout=None):
        self.timeouts.append(('get_store_detail', timeout))
        self.calls['get_store_detail'] += 1
        self._caller('get_store_detail', context)
        if store not in STORES:
            raise glance_multistore.GlanceStoreNotFound(
                store=store, image_id=None, reason='not in the store list')
        if not self.store_detail:
            return None
        store_type, fsid, pool = STORES[store]
        props = {'fsid': fsid, 'pool': pool} if store_type == 'rbd' else {}
        return {'id': store, 'type': store_type, 'properties': props}

    def image_import(self, context, image_id, method='copy-image',
                     stores=None, all_stores_must_succeed=False,
                     allow_failure=True, as_service=None, timeout=None):
        self.timeouts.append(('image_import', timeout))
        with self.mutex:
            self.calls['image_import'] += 1
            self._caller('image_import', context)
            self._check(image_id)
            if method != 'copy-image':
                raise exception.ImageBadRequest(
                    image_id=image_id,
                    response='Import method %s is not valid' % method)
            self._advance()
            (store,) = stores
            self.import_log.append((self.clock(), store))
            if store not in STORES:
                raise glance_multistore.GlanceStoreNotFound(
                    store=store, image_id=image_id, reason='unknown')
            if self.props.get('os_glance_import_task'):
                raise glance_multistore.ImageImportInProgress(
                    image_id=image_id, reason='Image has active task')
            if store in self.stores():
                raise glance_multistore.ImageAlreadyInStore(
                    image_id=image_id, store=store)
            fails = self.fail_copies > 0
            self.fail_copies -= 1
            self._start(store, fails)

    def delete(self):
        """The image is deleted (Glance stops the copy, frees the lock)."""
        with self.mutex:
            self.deleted = True
            self.copy = None

    def _check(self, image_id):
        if image_id != self.image_id or self.deleted:
            raise exception.ImageNotFound(image_id=image_id)


class SimRbd(object):
    """The RBD surface the backend uses, over SimGlance's pools: upstream's
    driver (``clone``, ``exists``) and ``rbd_glance.ClusterReads``.

    ``store`` is the Glance store whose pool this host's cluster holds.
    """

    def __init__(self, glance, fsid=FSID_A, store='site_a', pool='vms'):
        self.glance = glance
        self.fsid = fsid
        self.store = store
        self.pool = pool
        self.images = {}
        self.clones = []
        self.calls = collections.Counter()
        self.not_cloneable = None

    def cluster_fsid(self):
        return self.fsid

    def why_not_cloneable(self, location, image_meta):
        self.calls['why_not_cloneable'] += 1
        if not isinstance(image_meta, dict):
            # Upstream's checks read the image's disk format.
            return 'no image metadata to check'
        return self.not_cloneable

    def clone(self, image_location, dest_name, dest_pool=None):
        self.calls['clone'] += 1
        self.clones.append((image_location['url'], dest_pool or self.pool,
                            dest_name))
        self.images[dest_name] = self.glance.size

    def exists(self, name, pool=None, snapshot=None):
        return name in self.images

    def copy_progress(self, pool, name, snapshot='snap'):
        self.calls['copy_progress'] += 1
        _type, _fsid, store_pool = STORES[self.store]
        if (pool, name, snapshot) != (store_pool, self.glance.image_id,
                                      rbd_multistore.GLANCE_SNAPSHOT):
            # Nothing is written there.
            return rbd_multistore.CopyProgress(exists=False)
        exists, written, protected = self.glance.pool_state(self.store)
        return rbd_multistore.CopyProgress(
            exists=exists, written_bytes=written,
            snapshot_protected=protected, size=self.glance.size)
