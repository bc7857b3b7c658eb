"""An in-memory model of Glance's copy-image behaviour on a fake clock, for unit tests.

It reproduces what the functional tests and ``shared/reference/NOTES.md`` measured on
the real Glance 33: the per-image import lock (``os_glance_import_task``, 409 while
held), ``os_glance_importing_to_stores`` during a copy, ``os_glance_failed_import``
that stays until the next copy starts, 400 "already present", 409 for an unknown store,
the copy landing in the store's pool as ``<pool>/<image_id>`` with a protected ``snap``
before Glance registers the location, and the lock outliving the ``stores`` update by a
few milliseconds. The functional suite checks the real thing; this makes every branch
of the wait loop reachable, deterministically, in milliseconds.
"""

import collections
import dataclasses
import threading

from nova import exception

FSID_A = 'aaaaaaaa-0000-4000-8000-000000000001'
FSID_B = 'bbbbbbbb-0000-4000-8000-000000000002'
STORES = {'central': None, 'site_a': (FSID_A, 'images'), 'site_b': (FSID_B, 'images')}
MiB = 1 << 20


class Clock(object):
    """A clock that moves only when someone sleeps."""

    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += max(seconds, 0.0)


@dataclasses.dataclass
class Copy:
    task_id: str
    store: str
    started: float
    fails: bool


class SimGlance(object):
    """Glance with one image (and its copies), driven by ``clock``."""

    def __init__(self, clock, image_id='img-1', stores=('central',), size=64 * MiB,
                 copy_seconds=1.5, register_lag=0.05, lock_lag=0.01, fail_copies=0,
                 disk_format='raw', status='active', store_detail=True):
        self.clock = clock
        self.image_id = image_id
        self.size = size
        self.copy_seconds = copy_seconds
        self.register_lag = register_lag
        self.lock_lag = lock_lag
        self.fail_copies = fail_copies
        self.store_detail = store_detail
        self.image = {'id': image_id, 'status': status, 'disk_format': disk_format,
                      'size': size, 'stores': ','.join(stores)}
        self.locations = [self._location(s) for s in stores]
        self.tasks = []
        self.copy = None
        self.calls = collections.Counter()
        self.import_log = []
        self.registered_at = {}
        self.mutex = threading.RLock()

    # --- what tests look at -----------------------------------------------------------

    def _location(self, store):
        if STORES.get(store) is None:
            return {'url': 'file:///glance/%s' % self.image_id,
                    'metadata': {'store': store}}
        fsid, pool = STORES[store]
        return {'url': 'rbd://%s/%s/%s/snap' % (fsid, pool, self.image_id),
                'metadata': {'store': store}}

    def start_other_import(self, store, fails=False):
        """An import started elsewhere (another host or an operator)."""
        with self.mutex:
            self._start(store, fails)

    # --- the model ----------------------------------------------------------------

    def _start(self, store, fails):
        task_id = 'task-%d' % (len(self.tasks) + 1)
        self.copy = Copy(task_id, store, self.clock(), fails)
        self.tasks.append({'id': task_id, 'type': 'api_image_import',
                           'status': 'processing', 'message': '',
                           'created_at': '2026-01-01T00:00:%02dZ' % len(self.tasks)})
        self.image['os_glance_import_task'] = task_id
        self.image['os_glance_importing_to_stores'] = store
        failed = set(filter(None, self.image.get('os_glance_failed_import', '').split(',')))
        failed.discard(store)
        self.image['os_glance_failed_import'] = ','.join(sorted(failed))

    def _advance(self):
        c = self.copy
        if c is None:
            return
        now = self.clock()
        done = c.started + self.copy_seconds
        task = self.tasks[-1]
        if c.fails and now >= done:
            self.image['os_glance_failed_import'] = c.store
            self.image['os_glance_importing_to_stores'] = ''
            self.image.pop('os_glance_import_task', None)
            task.update(status='failure', message='Task failed due to Internal Error')
            self.copy = None
        elif not c.fails and now >= done + self.register_lag:
            if c.store not in self.image['stores'].split(','):
                self.image['stores'] += ',' + c.store
                self.locations.append(self._location(c.store))
                self.registered_at[c.store] = done + self.register_lag
            self.image['os_glance_importing_to_stores'] = ''
            if now >= done + self.register_lag + self.lock_lag:
                self.image.pop('os_glance_import_task', None)
                task.update(status='success')
                self.copy = None

    def pool_state(self, store):
        """(exists, written, protected) of the copy in ``store``'s pool."""
        with self.mutex:
            self._advance()
            if store in self.image['stores'].split(','):
                return True, self.size, True
            c = self.copy
            if c is None or c.store != store:
                return False, 0, False
            elapsed = self.clock() - c.started
            if c.fails and elapsed >= self.copy_seconds:
                return False, 0, False
            frac = min(1.0, elapsed / self.copy_seconds)
            return True, int(self.size * frac), elapsed >= self.copy_seconds

    # --- the nova.image.glance.API surface ------------------------------------------

    def show(self, context, image_id):
        with self.mutex:
            self.calls['show'] += 1
            self._check(image_id)
            self._advance()
            return dict(self.image)

    def get_locations(self, context, image_id):
        with self.mutex:
            self.calls['get_locations'] += 1
            self._check(image_id)
            self._advance()
            return [dict(loc) for loc in self.locations]

    def get_image_tasks(self, context, image_id):
        with self.mutex:
            self.calls['get_image_tasks'] += 1
            self._advance()
            return [dict(t) for t in self.tasks]

    def get_store_detail(self, context, store):
        self.calls['get_store_detail'] += 1
        if not self.store_detail or STORES.get(store) is None:
            return None
        fsid, pool = STORES[store]
        return {'id': store, 'type': 'rbd', 'properties': {'fsid': fsid, 'pool': pool}}

    def image_import(self, context, image_id, method='copy-image', stores=None,
                     **kwargs):
        with self.mutex:
            self.calls['image_import'] += 1
            self._check(image_id)
            self._advance()
            (store,) = stores
            self.import_log.append((self.clock(), store))
            if store not in STORES:
                raise exception.GlanceStoreNotFound(store=store, image_id=image_id)
            if self.image.get('os_glance_import_task'):
                raise exception.ImageImportInProgress(image_id=image_id,
                                                      reason='Image has active task')
            if store in self.image['stores'].split(','):
                raise exception.ImageAlreadyInStore(image_id=image_id, store=store)
            fails = self.fail_copies > 0
            self.fail_copies -= 1
            self._start(store, fails)

    def _check(self, image_id):
        if image_id != self.image_id:
            raise exception.ImageNotFound(image_id=image_id)


@dataclasses.dataclass(frozen=True)
class Progress:
    exists: bool
    size: int
    written_bytes: int
    snapshot_protected: bool


class SimRbd(object):
    """The RBDDriver surface the backend uses, over ``SimGlance``'s pools."""

    def __init__(self, glance, fsid=FSID_A, store='site_a'):
        self.glance = glance
        self.fsid = fsid
        self.store = store
        self.images = {}
        self.clones = []
        self.calls = collections.Counter()
        self.not_cloneable = None

    def get_fsid(self):
        return self.fsid

    def why_not_cloneable(self, location, image_meta):
        return self.not_cloneable

    def clone(self, location, dest_name, dest_pool=None):
        self.calls['clone'] += 1
        self.clones.append((str(location), dest_pool, dest_name))
        self.images[dest_name] = self.glance.size

    def exists(self, name, pool=None):
        return name in self.images

    def size(self, name, pool=None):
        return self.images[name]

    def resize(self, name, size):
        self.images[name] = size

    def remove_image(self, name, pool=None):
        self.images.pop(name, None)

    def import_image(self, path, name):
        self.images[name] = self.glance.size

    def get_mon_addrs(self):
        return ['127.0.0.1'], ['17000']

    def copy_progress(self, pool, name, snapshot='snap'):
        self.calls['copy_progress'] += 1
        exists, written, protected = self.glance.pool_state(self.store)
        return Progress(exists, self.glance.size, written, protected)
