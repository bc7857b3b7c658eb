"""Decisions for making a Glance image local to this host's Ceph cluster.

Everything here is a plain function of observed state: what Glance says about the image,
what the local pool shows, and what this host already did. The I/O that observes and
acts lives in :mod:`nova.virt.libvirt.imagebackend`, so each rule below is unit-tested
without services.

Glance's import machinery, as this module relies on it (Glance 33):

* ``os_glance_import_task`` is the per-image import lock: set while any import runs.
  Copy-image requested while it is set answers 409.
* ``os_glance_importing_to_stores`` lists the stores a running import still has to write.
* ``os_glance_failed_import`` lists stores whose copy failed; it is cleared when a new
  copy to that store starts, so it can be stale while a retry is pending.
* A finished copy adds the store to ``stores`` and an ``rbd://fsid/pool/image/snap``
  location; the lock may outlive that update by a few milliseconds.
"""

import dataclasses
import enum

from nova import exception

# Glance's import task type for copy-image and other interoperable imports.
IMPORT_TASK_TYPE = 'api_image_import'

# First gap between two Glance polls; it grows by POLL_GROWTH per poll that shows no
# change, up to [libvirt] images_rbd_glance_copy_poll_interval. While the local pool is
# watched, it (not Glance) shows when a copy completes, so Glance is asked less often.
FIRST_POLL = 0.25
FIRST_POLL_WATCHED = 1.0
POLL_GROWTH = 1.5
# Gap between Glance polls once the local pool shows the copy complete but Glance has
# not registered the location yet (a few ms to a few hundred ms), and how many such
# location-only polls to make before reading the whole image again.
CONFIRM_POLL = 0.1
CONFIRM_TRIES = 10
# First Glance poll after this host's copy request: soon enough to see a copy that
# failed at once (it leaves nothing in the pool to watch), late enough that a short
# copy needs no extra request.
AFTER_REQUEST_POLL = 0.5
# How long an accepted copy request may stay invisible in the image before we assume
# Glance dropped it and ask again.
ACCEPT_GRACE = 5.0
# Backoff before asking again after a failed copy: 2, 4, 8... seconds.
RETRY_BACKOFF_BASE = 2.0
RETRY_BACKOFF_MAX = 60.0
# How long Glance may list our store without returning a location we can clone before
# that is a configuration problem rather than a race.
LOCATION_GRACE = 5.0


def split_stores(value):
    """Glance keeps store lists as comma-separated strings; absent and '' are empty."""
    if not value:
        return frozenset()
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(s.strip() for s in value if s and s.strip())
    return frozenset(s.strip() for s in str(value).split(',') if s.strip())


@dataclasses.dataclass(frozen=True)
class ImageView:
    """What one read of the image tells about its stores and imports."""

    image_id: str
    status: str
    disk_format: str
    size: int
    stores: frozenset
    importing: frozenset
    failed: frozenset
    task_id: str

    @classmethod
    def from_image(cls, image):
        return cls(
            image_id=image.get('id'),
            status=image.get('status') or '',
            disk_format=image.get('disk_format') or '',
            size=image.get('size') or 0,
            stores=split_stores(image.get('stores')),
            importing=split_stores(image.get('os_glance_importing_to_stores')),
            failed=split_stores(image.get('os_glance_failed_import')),
            task_id=image.get('os_glance_import_task') or '',
        )


# --- Which location can this host clone? ---------------------------------------------

def store_of(location):
    """The Glance store a location dict belongs to, or None."""
    return (location.get('metadata') or {}).get('store')


def pick_local_location(locations, local_fsid, parse, preferred_store=None):
    """Return the first location in this host's cluster, preferring our store.

    ``parse`` turns a url into an object with ``fsid`` (rbd_utils.parse_location) and
    raises ``InvalidRbdLocation`` for anything else: file, http or malformed rbd urls
    are simply not ours to clone.
    """
    found = []
    for loc in locations or ():
        try:
            parsed = parse(loc.get('url') or '')
        except exception.InvalidRbdLocation:
            continue
        if parsed.fsid == local_fsid:
            found.append((store_of(loc) != preferred_store, parsed))
    if not found:
        return None
    found.sort(key=lambda pair: pair[0])
    return found[0][1]


def store_cluster_mismatch(store, store_fsid, local_fsid):
    """A reason string when our configured store lives in another cluster, else None."""
    if store_fsid and local_fsid and store_fsid != local_fsid:
        return ('store %s is in cluster %s, this host is in %s'
                % (store, store_fsid, local_fsid))
    return None


def check_bootable(view):
    """Raise if the image can never be cloned or copied, whatever the stores say."""
    if view.status != 'active':
        if view.status in ('deleted', 'pending_delete', 'killed'):
            raise exception.ImageNotFound(image_id=view.image_id)
        raise exception.ImageNotActive(image_id=view.image_id, status=view.status)
    if view.disk_format and view.disk_format != 'raw':
        raise exception.ImageDiskFormatUnsupported(
            image_id=view.image_id, disk_format=view.disk_format)


# --- Waiting for a copy ------------------------------------------------------------

class Action(enum.Enum):
    CLONE = 'clone'
    REQUEST_COPY = 'request copy'
    WAIT = 'wait'
    FAIL = 'fail'


@dataclasses.dataclass(frozen=True)
class Step:
    action: Action
    reason: str = ''
    delay: float = 0.0
    error: Exception = None


@dataclasses.dataclass(frozen=True)
class TaskView:
    """The newest import task of the image, as Glance's tasks API shows it."""

    task_id: str
    status: str
    message: str

    @classmethod
    def newest(cls, tasks):
        """The most recently created import task, or None."""
        imports = [t for t in tasks or () if t.get('type', IMPORT_TASK_TYPE)
                   == IMPORT_TASK_TYPE]
        if not imports:
            return None
        task = max(imports, key=lambda t: t.get('created_at') or '')
        return cls(task_id=task.get('id') or '', status=task.get('status') or '',
                   message=_clean(task.get('message') or ''))


def _clean(text):
    return ' '.join(text.replace('<br />', ' ').split())


@dataclasses.dataclass(frozen=True)
class WaitState:
    """What this host knows while it waits for a copy. Replaced, never mutated."""

    store: str
    started: float
    deadline: float
    retries: int
    # Failed import tasks already counted (a failed marker stays until a new copy
    # starts, so failures are counted per task, not per poll).
    failed_tasks: frozenset = frozenset()
    last_failure: str = ''
    # When our last accepted copy request was made.
    requested_at: float = None
    requests: int = 0
    # Earliest time for the next request after a failure (backoff).
    not_before: float = 0.0
    # Backoff bookkeeping: Glance polls in a row that showed no change.
    polls_without_change: int = 0
    glance_signature: tuple = ()
    # Progress bookkeeping: when anything (Glance or the pool) last changed.
    last_change: float = None
    signature: tuple = ()
    # store -> first time we saw it in os_glance_importing_to_stores
    importing_since: tuple = ()
    # First time Glance listed our store in ``stores`` (None while it does not).
    listed_at: float = None

    def importing_for(self, now):
        return {store: now - since for store, since in self.importing_since}


def new_wait_state(store, now, timeout, retries):
    return WaitState(store=store, started=now, deadline=now + timeout, retries=retries,
                     last_change=now)


def observe(state, view, now, task=None, pool_signature=()):
    """Fold one observation into the wait state.

    ``task`` is the newest import task (only fetched when our store is marked failed);
    ``pool_signature`` is whatever the local pool shows about the copy (exists, bytes
    written, snapshot) so that progress there counts as progress.
    """
    changes = {}
    since = dict(state.importing_since)
    for store in view.importing:
        since.setdefault(store, now)
    for store in list(since):
        if store not in view.importing:
            del since[store]
    changes['importing_since'] = tuple(sorted(since.items()))
    if state.store in view.stores:
        changes['listed_at'] = now if state.listed_at is None else state.listed_at
    else:
        changes['listed_at'] = None

    glance_signature = (view.importing, view.failed, view.task_id, view.stores)
    if glance_signature != state.glance_signature:
        changes.update(glance_signature=glance_signature, polls_without_change=0)
    else:
        changes['polls_without_change'] = state.polls_without_change + 1
    signature = (glance_signature, pool_signature)
    if signature != state.signature:
        changes.update(signature=signature, last_change=now)

    # A failure recorded before this host asked for a copy belongs to an earlier
    # attempt (another boot, another host, before the store was repaired): it is a
    # reason to ask, not a failure of this boot.
    if (state.store in view.failed and task is not None and state.requests
            and task.status == 'failure' and task.task_id not in state.failed_tasks):
        failures = len(state.failed_tasks) + 1
        changes.update(
            failed_tasks=state.failed_tasks | {task.task_id},
            last_failure='task %s: %s' % (task.task_id, task.message or 'no message'),
            not_before=now + retry_backoff(failures))
    return dataclasses.replace(state, **changes)


def requested(state, now):
    """The state after this host's copy request was accepted.

    The request is a change: the next Glance poll comes soon, so that a copy that
    fails at once (before it writes anything to the pool) is noticed at once too.
    """
    return dataclasses.replace(state, requested_at=now, requests=state.requests + 1,
                               polls_without_change=0)


def retry_backoff(failures):
    return min(RETRY_BACKOFF_MAX, RETRY_BACKOFF_BASE ** failures)


def poll_delay(state, max_interval, watching_pool=False):
    """Seconds until the next Glance poll: quick at first, backing off while idle."""
    first = FIRST_POLL_WATCHED if watching_pool else FIRST_POLL
    return min(float(max_interval), first * POLL_GROWTH ** state.polls_without_change)


def decide(state, view, now, location=None, max_interval=15, task=None,
           watching_pool=False):
    """The next step while waiting for ``view`` to gain a location in our store.

    ``location`` is a cloneable location in this cluster, when one was found;
    ``task`` is the newest import task when our store is marked failed;
    ``watching_pool`` says the local pool is watched (Glance may be polled less).
    """
    store = state.store
    if location is not None:
        return Step(Action.CLONE, 'image is in store %s' % store)
    try:
        check_bootable(view)
    except exception.NovaException as e:
        return Step(Action.FAIL, str(e), error=e)

    if (state.listed_at is not None and store in view.stores
            and now - state.listed_at >= LOCATION_GRACE):
        return Step(Action.FAIL, 'no readable location', error=exception.ImageNotCloneable(
            image_id=view.image_id,
            reason='Glance lists it in store %s but returns no location in this '
                   'cluster. Nova reads locations with Glance\'s locations API, which '
                   'needs the service or admin role: configure [glance] service '
                   'credentials (see [glance] copy_credentials)' % store))
    if store in view.stores:
        # Listed, but its location not readable yet: confirm soon.
        return Step(Action.WAIT, 'copy finished, waiting for Glance to register it',
                    delay=CONFIRM_POLL)

    if now >= state.deadline:
        return Step(Action.FAIL, 'timed out', error=timeout_error(state, view, now))

    delay = poll_delay(state, max_interval, watching_pool)
    if store in view.importing:
        return Step(Action.WAIT, 'Glance is copying to %s' % store, delay=delay)

    if store in view.failed:
        if task is not None and task.status in ('pending', 'processing'):
            # A new copy was accepted and has not cleared the old marker yet.
            return Step(Action.WAIT, 'retry accepted, waiting for it to start',
                        delay=delay)
        if not state.requests:
            # The marker is from an earlier attempt: ask now, once any lock is gone.
            if view.task_id:
                return Step(Action.WAIT, 'another import holds the image', delay=delay)
            return Step(Action.REQUEST_COPY, 'an earlier copy to %s failed; asking '
                        'again' % store)
        if len(state.failed_tasks) > state.retries:
            return Step(Action.FAIL, 'copy failed', error=exception.ImageCopyFailed(
                image_id=view.image_id, store=store,
                attempts=len(state.failed_tasks),
                reason=failure_reason(state)))
        if view.task_id:
            return Step(Action.WAIT, 'another import holds the image', delay=delay)
        if now < state.not_before:
            return Step(Action.WAIT, 'backing off after a failed copy',
                        delay=min(delay, state.not_before - now))
        return Step(Action.REQUEST_COPY, 'retrying after a failed copy')

    if view.task_id:
        return Step(Action.WAIT, 'another import (task %s) holds the image'
                    % view.task_id, delay=delay)
    if state.requested_at is not None and now - state.requested_at < ACCEPT_GRACE:
        return Step(Action.WAIT, 'copy requested, waiting for Glance to start it',
                    delay=min(delay, FIRST_POLL))
    return Step(Action.REQUEST_COPY, 'store %s lacks the image' % store)


def failure_reason(state):
    return ('Glance reports the copy failed (%s). The real cause is in the Glance API '
            'log of the node that ran the task (search it for the task id); check the '
            'store\'s Ceph user and pool, then boot again'
            % (state.last_failure or 'no task message'))


def timeout_error(state, view, now):
    importing = state.importing_for(now)
    if importing:
        detail = ', '.join('store %s importing for %.0f s' % (s, t)
                           for s, t in sorted(importing.items()))
    else:
        detail = 'no import was running at the end'
    if view.task_id:
        detail += '; import task %s holds the image' % view.task_id
    detail += '; no visible progress for %.0f s' % (now - state.last_change)
    if state.requests:
        detail += '; this host asked Glance to copy %d time(s)' % state.requests
    return exception.ImageCopyTimeout(
        image_id=view.image_id, store=state.store,
        timeout=round(state.deadline - state.started), detail=detail)


def stalled_for(state, now):
    """Seconds since anything visibly changed."""
    return now - state.last_change
