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

"""Decisions for making a Glance image local to this host's Ceph cluster.

Everything here is a plain function of observed state: what Glance says
about the image, what the local pool shows and what this host already did.
The I/O that observes and acts lives in :mod:`nova.virt.libvirt.rbd_glance`,
so each rule below is unit tested without services. A new wait behaviour is
a branch in :func:`decide` and a test beside it.

Glance's import machinery, as this module relies on it (Glance 33):

* ``os_glance_import_task`` is the per-image import lock, set while any
  import runs; a copy-image request while it is set answers 409.
* ``os_glance_importing_to_stores`` lists the stores a running import still
  has to write.
* ``os_glance_failed_import`` lists stores whose copy failed; it is cleared
  when a new copy to that store starts, so it can be stale while a retry is
  pending.
* A finished copy adds the store to ``stores`` and an
  ``rbd://fsid/pool/image/snap`` location; the lock may outlive that update
  by a few milliseconds.

Nova's image dict (``nova.image.glance.API.get``) keeps the keys of Glance's
image schema at the top level and moves every other key, the
``os_glance_*`` ones included, under ``properties``.

Every error raised for nova-compute is an ``ImageUnacceptable``: the libvirt
driver then downloads the image instead, or aborts the build when
``[workarounds] never_download_image_if_on_rbd`` is set.
"""

import dataclasses
import datetime
import enum
import urllib.parse

from oslo_utils import timeutils
from oslo_utils import uuidutils

from nova import exception
from nova.i18n import _
from nova.image import glance_multistore
from nova.storage import rbd_multistore

# Glance's import task type for copy-image and the other interoperable
# imports.
IMPORT_TASK_TYPE = 'api_image_import'

# Disk formats the rbd backend clones: upstream's Rbd.clone accepts raw and
# iso; copying anything else into the store would be wasted.
CLONEABLE_FORMATS = rbd_multistore.CLONEABLE_FORMATS

# First gap between two Glance polls; it grows by POLL_GROWTH per poll that
# shows no change, up to [libvirt] images_rbd_glance_copy_poll_interval.
# While the local pool is watched, the pool (not Glance) shows when a copy
# completes, so Glance is asked less often.
FIRST_POLL = 0.25
FIRST_POLL_WATCHED = 1.0
POLL_GROWTH = 1.5
POLL_GROWTH_CAP = 64
# Gap between location reads once the local pool shows the copy complete
# but Glance has not registered the location yet (a few ms to a few hundred
# ms), and how many such reads to make before reading the whole image again.
CONFIRM_POLL = 0.1
CONFIRM_TRIES = 10
# First Glance poll after this host's copy request: soon enough to see a
# copy that failed at once (it leaves nothing in the pool to watch), late
# enough that a short copy needs no extra request.
AFTER_REQUEST_POLL = 0.5
# How long an accepted copy request may stay invisible in the image before
# we assume Glance dropped it and ask again.
ACCEPT_GRACE = 5.0
# Backoff before asking again after a failed copy: 2, 4, 8... seconds.
RETRY_BACKOFF_BASE = 2.0
RETRY_BACKOFF_MAX = 60.0
# How long Glance may list our store without returning a location we can
# clone before that is a configuration problem rather than a race.
LOCATION_GRACE = 5.0
# Backoff before asking again after a 409 (another import holds the image)
# and before reading Glance again after a transient fault (connection
# refused, timeout, 5xx): 0.5, 1, 2... seconds, up to
# [libvirt] images_rbd_glance_copy_poll_interval.
CONFLICT_BACKOFF_BASE = 0.5
TRANSIENT_BACKOFF_BASE = 0.5
# While an import task holds the image and nothing moves, its record is read
# at most this often (its updated_at tells a live task from a dead one).
TASK_CHECK_INTERVAL = 10.0
# Glance sets an image's import lock before it records the lock's task: an
# API worker that dies in between (a restart, a crash) leaves a lock whose
# task does not exist, which Glance drops at the next import request. A
# lock whose task the tasks list has not shown for this long is asked
# past (a 409 backs off as any other).
UNLISTED_GRACE = TASK_CHECK_INTERVAL
# A task older than the stall timeout is dead only once nothing changed in
# Glance or the pool for this long (or the stall timeout, if shorter) under
# this boot's own eyes: a later boot finds a dead task within this time.
QUIET_CONFIRM = 10.0
# How far past the moment a task would be found dead the wait sleeps to it.
DEAD_MARGIN = 0.01
# Glance copies the whole image into its staging area before it writes it
# to the store, and updates the task only while writing (its first update
# sets the message "Copied N MiB"). A processing task without a message,
# whose image has not been seen in the store's pool, is given the time
# staging the image takes at this rate (bytes per second, a slow link
# between sites) on top of the stall timeout before it counts as dead.
STAGING_RATE_FLOOR = 10 * 1024 * 1024
# Statuses of an import task that has ended.
FINISHED_TASK = ('failure', 'success')
# Glance (33) breaks an import lock whose task was last updated this long
# ago: an hour for a processing task, two for a pending one. Until then it
# answers 409 to every import of the image.
GLANCE_LOCK_TTL = {'processing': 3600, 'pending': 7200}


# --- Errors: every one is an ImageUnacceptable for nova-compute -----------

class InvalidImageReference(exception.ImageUnacceptable):
    msg_fmt = _("Image reference %(image_id)s is neither an image UUID nor "
                "a Glance image URL ending in one, so the rbd image backend "
                "does not use it: boot with the image's Glance id.")


class ImageNotCloneable(exception.ImageUnacceptable):
    msg_fmt = _("Image %(image_id)s cannot be cloned in this host's Ceph "
                "cluster: %(reason)s")


class ImageNotReady(exception.ImageUnacceptable):
    msg_fmt = _("Image %(image_id)s is %(status)s, not active, so it cannot "
                "be cloned or copied. An image that is still being uploaded "
                "or imported becomes active when that ends: boot it then.")


class ImageNotRaw(exception.ImageUnacceptable):
    msg_fmt = _("Image %(image_id)s has disk_format %(disk_format)s; the rbd "
                "image backend clones raw (and iso) images only. Convert it "
                "(qemu-img convert -O raw) and upload it again, or enable "
                "Glance's image conversion (image_conversion import plugin, "
                "output_format = raw).")


class GlanceStoreNotRbd(exception.ImageUnacceptable):
    msg_fmt = _("Image %(image_id)s cannot be copied to Glance store "
                "%(store)s: it is a %(store_type)s store, not rbd, so a copy "
                "there cannot be cloned. Set [libvirt] "
                "images_rbd_glance_store_name to the rbd store in this "
                "host's Ceph cluster.")


class GlanceStoreWrongCluster(exception.ImageUnacceptable):
    msg_fmt = _("Image %(image_id)s cannot be copied to Glance store "
                "%(store)s: the store keeps its images in Ceph cluster "
                "%(store_fsid)s but this host's cluster is %(local_fsid)s, "
                "so a copy there cannot be cloned here. Set [libvirt] "
                "images_rbd_glance_store_name to the store in this host's "
                "cluster, or check [libvirt] images_rbd_ceph_conf.")


class ImageCopyFailed(exception.ImageUnacceptable):
    msg_fmt = _("Glance failed to copy image %(image_id)s to store "
                "%(store)s %(attempts)s time(s): %(reason)s")


class ImageCopyStalled(exception.ImageUnacceptable):
    msg_fmt = _("The copy of image %(image_id)s to Glance store %(store)s is "
                "dead: Glance import task %(task_id)s (%(status)s) was last "
                "updated %(age)d s ago and nothing changed in Glance or in "
                "the store's pool for %(quiet)d s, so the Glance API worker "
                "that ran it has most likely died. Glance refuses every "
                "import of this image until it releases the image's import "
                "lock at %(release_at)s (%(ttl)d minutes after the task's "
                "last update; about %(release_in)d minutes from now). Nova "
                "downloads the image instead unless [workarounds] "
                "never_download_image_if_on_rbd is set; otherwise boot it "
                "again after that time, or boot an image that is already in "
                "store %(store)s. Look for the task id in the Glance API "
                "logs to see why its worker stopped.")


class ImageCopyStuckInCeph(ImageCopyStalled):
    msg_fmt = _("The copy of image %(image_id)s to Glance store %(store)s is "
                "not moving: Glance import task %(task_id)s (%(status)s) was "
                "last updated %(age)d s ago, nothing changed in Glance for "
                "%(quiet)d s, and this host cannot read the store's pool "
                "either (%(pool_error)s). The store's Ceph cluster has most "
                "likely stopped answering and Glance's copy waits for it: "
                "check the cluster (ceph health detail, ceph osd stat). Once "
                "it answers, the copy goes on and a later boot clones it. If "
                "Glance's worker died meanwhile, Glance refuses every import "
                "of this image until it releases the image's import lock at "
                "%(release_at)s (%(ttl)d minutes after the task's last "
                "update; about %(release_in)d minutes from now). Nova "
                "downloads the image instead unless [workarounds] "
                "never_download_image_if_on_rbd is set.")


class ImageDeletedDuringCopy(exception.ImageUnacceptable):
    msg_fmt = _("Image %(image_id)s was deleted (or hidden from the booting "
                "user) while Nova waited for its copy to Glance store "
                "%(store)s, after %(elapsed)d s: there is nothing left to "
                "boot. Boot another image.")


class ImageCopyTimeout(exception.ImageUnacceptable):
    msg_fmt = _("Image %(image_id)s did not reach Glance store %(store)s "
                "within %(timeout)s s: %(detail)s. Raise [libvirt] "
                "images_rbd_glance_copy_timeout for large images, or look "
                "for the import task in Glance's API log.")


# --- Inputs -----------------------------------------------------------------

def image_id_of(image_ref):
    """The image UUID in a reference nova-compute passes to ``clone``.

    Upstream's backend reads any reference with ``API.get``, which takes
    an image id or a Glance image URL (``http(s)://.../v2/images/<id>``);
    both are accepted when the id is a UUID, because it becomes part of
    lock file names and Glance URLs. Anything else (an ``rbd://`` url, a
    path) raises :class:`InvalidImageReference`.
    """
    shown = _shown_ref(image_ref)
    if not isinstance(image_ref, str):
        raise InvalidImageReference(image_id=shown)
    candidate = image_ref
    if '/' in image_ref:
        parsed = urllib.parse.urlsplit(image_ref)
        if parsed.scheme not in ('http', 'https') or not parsed.netloc:
            raise InvalidImageReference(image_id=shown)
        candidate = parsed.path.rstrip('/').rsplit('/', 1)[-1]
    if not uuidutils.is_uuid_like(candidate):
        raise InvalidImageReference(image_id=shown)
    return candidate


def _shown_ref(value):
    """A reference as it may appear in a message: printable, short."""
    text = value if isinstance(value, str) else '<%s>' % type(value).__name__
    text = ''.join(c if c.isprintable() else '?' for c in text)
    return repr(text[:100] + ('...' if len(text) > 100 else ''))


def check_read_image(image, image_id):
    """Refuse an answer to the read of ``image_id`` that is not that
    image (a broken proxy, a wrong type): raise GlanceUnexpectedAnswer.
    """
    if not isinstance(image, dict):
        raise glance_multistore.GlanceUnexpectedAnswer(
            call='show', image_id=image_id,
            reason=_('not an image record (%s)') % type(image).__name__)
    found = image.get('id')
    if found is not None and found != image_id:
        raise glance_multistore.GlanceUnexpectedAnswer(
            call='show', image_id=image_id,
            reason=_('it describes another image, %s') % _shown_ref(found))


# --- What one read of Glance or of the pool shows --------------------------

def split_stores(value):
    """Glance keeps store lists as comma-separated strings.

    Absent and '' both mean empty.
    """
    if not value:
        return frozenset()
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(s.strip() for s in value if s and s.strip())
    return frozenset(s.strip() for s in str(value).split(',') if s.strip())


def _image_value(image, key):
    """A key of Nova's image dict, top level first, then ``properties``."""
    value = image.get(key)
    if value in (None, ''):
        value = (image.get('properties') or {}).get(key)
    return value


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
    def from_image(cls, image, image_id=None):
        """Read Nova's image dict, as ``nova.image.glance.API.get`` returns it.

        ``image_id`` is used when the dict has no ``id``.
        """
        size = image.get('size')
        return cls(
            image_id=image.get('id') or image_id,
            status=_text(image.get('status')),
            disk_format=_text(image.get('disk_format')),
            size=size if isinstance(size, int) and size > 0 else 0,
            stores=split_stores(_image_value(image, 'stores')),
            importing=split_stores(
                _image_value(image, 'os_glance_importing_to_stores')),
            failed=split_stores(
                _image_value(image, 'os_glance_failed_import')),
            task_id=_text(_image_value(image, 'os_glance_import_task')),
        )


def _text(value):
    """A string field of a Glance answer; anything else counts as unset."""
    return value if isinstance(value, str) else ''


@dataclasses.dataclass(frozen=True)
class TaskView:
    """One import task of the image, as Glance's tasks API shows it.

    ``updated_at`` is the task's last update (its creation when Glance never
    updated it), a naive UTC datetime or None; ``age`` is how long ago that
    was when the task was read, in seconds, or None when unknown.
    """

    task_id: str
    status: str
    message: str
    # When read, not what the task is: left out of comparisons.
    updated_at: datetime.datetime = dataclasses.field(default=None,
                                                      compare=False)
    age: float = dataclasses.field(default=None, compare=False)

    @classmethod
    def from_task(cls, task, now_wall=None):
        updated = (_parse_time(task.get('updated_at')) or
                   _parse_time(task.get('created_at')))
        age = None
        if updated is not None and now_wall is not None:
            age = max(0.0, (now_wall - updated).total_seconds())
        return cls(task_id=task.get('id') or '',
                   status=task.get('status') or '',
                   message=_clean(task.get('message') or ''),
                   updated_at=updated, age=age)

    @classmethod
    def newest(cls, tasks, now_wall=None):
        """The most recently created import task, or None."""
        imports = [t for t in tasks or ()
                   if t.get('type', IMPORT_TASK_TYPE) == IMPORT_TASK_TYPE]
        if not imports:
            return None
        task = max(imports, key=lambda t: str(t.get('created_at') or ''))
        return cls.from_task(task, now_wall)

    @classmethod
    def find(cls, tasks, task_id, now_wall=None):
        """The task ``task_id`` (the one holding the image), or None."""
        for task in tasks or ():
            if task.get('id') == task_id:
                return cls.from_task(task, now_wall)
        return None


def _parse_time(value):
    """Glance's ISO 8601 time as a naive UTC datetime, None if not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return timeutils.normalize_time(timeutils.parse_isotime(value))
    except ValueError:
        return None


def _clean(text):
    return ' '.join(str(text).replace('<br />', ' ').split())


@dataclasses.dataclass(frozen=True)
class PoolView:
    """What the store's pool shows of the copy: ``<pool>/<image id>``."""

    exists: bool
    written_bytes: int = 0
    complete: bool = False

    @classmethod
    def from_progress(cls, progress):
        """From ``rbd_multistore.RBDDriver.copy_progress``'s answer."""
        return cls(exists=bool(progress.exists),
                   written_bytes=progress.written_bytes or 0,
                   complete=bool(progress.snapshot_protected))


# --- Which location can this host clone? ---------------------------------

def store_of(location):
    """The Glance store a location dict belongs to, or None."""
    metadata = location.get('metadata') if isinstance(location, dict) else None
    return metadata.get('store') if isinstance(metadata, dict) else None


def local_locations(locations, local_fsid, parse, preferred_store=None,
                    image_id=None, pool=None):
    """The image's own locations in this host's cluster, our store's first.

    ``parse`` turns a url into an object with an ``fsid``, ``pool`` and
    ``image`` (``rbd_multistore.parse_location``) and raises an ``Invalid``
    error for anything else: file, http or malformed rbd urls are simply
    not ours to clone. A location counts only if it is the image's own RBD
    image, as Glance's rbd store writes it: named ``image_id`` (when
    given), in ``pool`` (the store's pool, when known), in this cluster.
    Anything else (an owner may edit locations when Glance lets them) is
    some other RBD image and is ignored.
    """
    found = []
    for loc in locations or ():
        try:
            parsed = parse(store_url(loc))
        except exception.Invalid:
            continue
        if parsed.fsid != local_fsid:
            continue
        if image_id is not None and parsed.image != image_id:
            continue
        if pool and parsed.pool != pool:
            continue
        found.append((store_of(loc) != preferred_store, len(found), parsed))
    return [parsed for _other, _index, parsed in sorted(found)]


def store_url(location):
    """The url of a Glance location dict ('' when it has none)."""
    if not isinstance(location, dict):
        return ''
    url = location.get('url')
    return url if isinstance(url, str) else ''


def pick_local_location(locations, local_fsid, parse, preferred_store=None,
                        image_id=None, pool=None):
    """The first of the image's own locations in this host's cluster,
    preferring our store.
    """
    found = local_locations(locations, local_fsid, parse, preferred_store,
                            image_id=image_id, pool=pool)
    return found[0] if found else None


def check_store(image_id, store, detail, local_fsid):
    """Refuse a store that cannot give this host a cloneable copy.

    ``detail`` is Glance's description of the store (``None`` when Glance
    does not tell). Returns the store's pool when Glance names it.
    """
    if detail is None:
        return None
    store_type = detail.get('type')
    if store_type and store_type != 'rbd':
        raise GlanceStoreNotRbd(image_id=image_id, store=store,
                                store_type=store_type)
    props = detail.get('properties') or {}
    store_fsid = props.get('fsid')
    if store_fsid and local_fsid and store_fsid != local_fsid:
        raise GlanceStoreWrongCluster(image_id=image_id, store=store,
                                      store_fsid=store_fsid,
                                      local_fsid=local_fsid)
    return props.get('pool')


def check_bootable(view):
    """Raise if the image can never be cloned, whatever the stores say."""
    # No status at all is not Glance's answer: the locations decide then.
    if view.status and view.status != 'active':
        raise ImageNotReady(image_id=view.image_id, status=view.status)
    if view.disk_format not in CLONEABLE_FORMATS:
        raise ImageNotRaw(image_id=view.image_id,
                          disk_format=view.disk_format or 'unset')


def no_location_reason(local_fsid, reasons=(), store_set=False):
    """Why an image with no cloneable location in this cluster stays so."""
    if reasons:
        return (_('its locations in this cluster cannot be cloned (%s). '
                  'Check the rbd_user\'s read access to the Glance pool')
                % '; '.join(reasons))
    if store_set:
        return (_('it has no location in this cluster (%s) and no copy into '
                  '[libvirt] images_rbd_glance_store_name was asked for')
                % local_fsid)
    return (_('it has no location in this cluster (%s) and [libvirt] '
              'images_rbd_glance_store_name is not set. Set it to the Glance '
              'store in this cluster to have Glance copy images here')
            % local_fsid)


# --- Waiting for a copy -------------------------------------------------

class Action(enum.Enum):
    # A cloneable location is there: clone it.
    CLONE = 'clone'
    # Ask Glance to copy the image, then wait ``delay``.
    REQUEST_COPY = 'request copy'
    # Wait ``delay`` (watching the pool), then read the image again.
    WAIT = 'wait'
    # Wait ``delay`` (no pool watch), then read only the image's locations.
    CONFIRM = 'confirm'
    # Give up: raise ``error``.
    FAIL = 'fail'


@dataclasses.dataclass(frozen=True)
class Step:
    action: Action
    reason: str = ''
    delay: float = 0.0
    error: Exception = None
    # Seconds without visible progress, when that deserves a warning now.
    stalled: float = None


@dataclasses.dataclass(frozen=True)
class WaitState:
    """What this host knows while it waits for a copy. Replaced, never mutated.
    """

    store: str
    started: float
    deadline: float
    retries: int
    max_interval: float = 15.0
    stall_timeout: float = 300.0
    # Whether the store's pool is watched (Glance named it and it is
    # readable).
    watch_pool: bool = False
    # Failed import tasks already counted (a failure marker stays until a
    # new copy starts, so failures are counted per task, not per poll).
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
    # Progress bookkeeping: when Glance or the pool last changed.
    last_change: float = None
    pool_signature: tuple = ()
    # store -> first time we saw it in os_glance_importing_to_stores
    importing_since: tuple = ()
    # First time Glance listed our store in ``stores`` (None while it does
    # not).
    listed_at: float = None
    # The pool: the copy's image was seen there; it vanished since (Glance
    # removes a failed copy's partial image); it shows the copy complete.
    pool_seen: bool = False
    pool_vanished: bool = False
    pool_complete: bool = False
    # Why the pool could not be read (it is then not watched any more), and
    # whether Ceph did not answer in time.
    pool_error: str = ''
    pool_timed_out: bool = False
    # Location-only reads since the pool showed the copy complete, and
    # whether one was made since the image was last read.
    confirm_polls: int = 0
    view_stale: bool = False
    # When the last stall warning was given.
    stall_warned_at: float = None
    # When the task holding the image was last read, and what it showed.
    task_checked_at: float = None
    holder: TaskView = None
    # (task id, since when) of a lock whose task the tasks list lacks.
    unlisted: tuple = ()
    # 409s (another import holds the image) in answer to our requests.
    conflicts: int = 0
    # Transient Glance faults: in a row (for the backoff), in all, the last.
    transient_streak: int = 0
    # Our copy requests that failed transiently in a row: the reads between
    # them succeed and end transient_streak, so requests keep their own.
    request_streak: int = 0
    transient_total: int = 0
    last_transient: str = ''
    # Earliest time to read Glance again after a transient fault.
    read_not_before: float = 0.0

    def importing_for(self, now):
        return {store: now - since for store, since in self.importing_since}


def new_wait_state(store, now, timeout, retries, max_interval=15.0,
                   stall_timeout=300.0, watch_pool=False, deadline=None,
                   started=None):
    """The state of a new wait.

    ``deadline`` is the boot's deadline when it was set before this wait
    (when the boot asked, before it queued for Nova's lock); ``started`` when
    the boot asked. Without them the wait starts now and lasts ``timeout``.
    """
    started = now if started is None else started
    deadline = started + timeout if deadline is None else deadline
    return WaitState(store=store, started=started, deadline=deadline,
                     retries=retries, max_interval=float(max_interval),
                     stall_timeout=float(stall_timeout),
                     watch_pool=watch_pool, last_change=now,
                     stall_warned_at=now)


def observe(state, view, now, task=None, holder_listed=None):
    """Fold one read of the image into the wait state.

    ``task`` is the newest import task (only fetched when our store is
    marked failed); ``holder_listed`` whether the tasks read with it list
    the task that holds the image (None: they were not read).
    """
    changes = {'pool_vanished': False, 'view_stale': False}
    if not view.task_id or holder_listed:
        changes['unlisted'] = ()
    elif holder_listed is False and (not state.unlisted or
                                     state.unlisted[0] != view.task_id):
        changes['unlisted'] = (view.task_id, now)
    since = dict(state.importing_since)
    for store in view.importing:
        since.setdefault(store, now)
    for store in list(since):
        if store not in view.importing:
            del since[store]
    changes['importing_since'] = tuple(sorted(since.items()))
    if state.store in view.stores:
        changes['listed_at'] = (now if state.listed_at is None
                                else state.listed_at)
    else:
        changes['listed_at'] = None

    signature = (view.importing, view.failed, view.task_id, view.stores)
    if signature != state.glance_signature:
        changes.update(glance_signature=signature, polls_without_change=0,
                       last_change=now)
    else:
        changes['polls_without_change'] = state.polls_without_change + 1

    if (task is not None and view.task_id and
            task.task_id == view.task_id):
        changes['holder'] = task
    elif not view.task_id or (state.holder is not None and
                              state.holder.task_id != view.task_id):
        changes['holder'] = None

    # A failure recorded before this host asked for a copy belongs to an
    # earlier attempt (another boot, another host, before the store was
    # repaired): it is a reason to ask, not a failure of this boot.
    # A copy with allow_failure (Nova's) ends as a 'success' task even when
    # its only store failed: the marker on our store says it failed.
    if (state.store in view.failed and task is not None and
            state.requests and task.status in FINISHED_TASK and
            task.task_id not in state.failed_tasks):
        failures = len(state.failed_tasks) + 1
        changes.update(
            failed_tasks=state.failed_tasks | {task.task_id},
            last_failure='task %s: %s' % (task.task_id,
                                           task.message or 'no message'),
            not_before=now + retry_backoff(failures))
    return dataclasses.replace(state, **changes)


def observe_pool(state, pool, now):
    """Fold one look at the store's pool into the wait state."""
    vanished = state.pool_seen and not pool.exists
    changes = {
        'pool_seen': pool.exists,
        'pool_vanished': state.pool_vanished or vanished,
        'pool_complete': pool.complete,
    }
    if pool.complete and not state.pool_complete:
        changes['confirm_polls'] = 0
    signature = (pool.exists, pool.written_bytes, pool.complete)
    if signature != state.pool_signature:
        changes.update(pool_signature=signature, last_change=now)
    return dataclasses.replace(state, **changes)


def observe_locations(state):
    """The state after a location-only read that found nothing to clone."""
    return dataclasses.replace(state, confirm_polls=state.confirm_polls + 1,
                               view_stale=True)


def pool_unwatchable(state, reason='', timed_out=False):
    """The pool cannot be read: Glance alone tells how the copy goes.

    ``reason`` says why (for the error the wait may end with);
    ``timed_out``: Ceph did not answer in time.
    """
    return dataclasses.replace(state, watch_pool=False, pool_seen=False,
                               pool_complete=False, pool_vanished=False,
                               pool_error=reason, pool_timed_out=timed_out)


def requested(state, now):
    """The state after this host's copy request was accepted.

    The request is a change: the next Glance poll comes soon, so that a copy
    that fails at once (before it writes to the pool) is noticed at once.
    """
    return dataclasses.replace(state, requested_at=now,
                               requests=state.requests + 1, request_streak=0,
                               polls_without_change=0, pool_seen=False,
                               pool_complete=False, pool_vanished=False,
                               confirm_polls=0)


def conflicted(state, now):
    """The state after Glance answered 409 to our copy request: another
    import holds the image. The next request backs off.
    """
    conflicts = state.conflicts + 1
    return dataclasses.replace(
        state, conflicts=conflicts, request_streak=0,
        not_before=now + backoff(CONFLICT_BACKOFF_BASE, conflicts,
                                 state.max_interval))


def task_checked(state, now):
    """The state after the task holding the image was read."""
    return dataclasses.replace(state, task_checked_at=now)


def wants_task(state, view, now):
    """Whether to read the image's import tasks with this image read.

    When our store is marked failed (which task failed?), and while a task
    holds the image: at once for a new holder (a later boot sees a dead
    task from its age), then every TASK_CHECK_INTERVAL.
    """
    if state.store in view.failed:
        return True
    if not view.task_id:
        return False
    return (state.task_checked_at is None or
            now - state.task_checked_at >= TASK_CHECK_INTERVAL)


def glance_failed(state, now, reason):
    """The state after a transient Glance fault (connection refused or
    timed out, 5xx): read again after a backoff, counted.
    """
    streak = state.transient_streak + 1
    return dataclasses.replace(
        state, transient_streak=streak,
        transient_total=state.transient_total + 1, last_transient=reason,
        read_not_before=now + backoff(TRANSIENT_BACKOFF_BASE, streak,
                                      state.max_interval))


def request_failed(state, now, reason):
    """The state after a transient fault of our copy request: counted with
    the other Glance faults, and the next request backs off (0.5, 1, 2...
    seconds up to the poll interval) while the image is still read.
    """
    streak = state.request_streak + 1
    return dataclasses.replace(
        state, request_streak=streak,
        transient_total=state.transient_total + 1, last_transient=reason,
        not_before=max(state.not_before,
                       now + backoff(TRANSIENT_BACKOFF_BASE, streak,
                                     state.max_interval)))


def glance_answered(state):
    """The state after Glance answered: the transient streak ends."""
    if not state.transient_streak:
        return state
    return dataclasses.replace(state, transient_streak=0)


def after_glance_failure(state, view, now, image_id):
    """The next step after a transient Glance fault: wait, or time out."""
    if now >= state.deadline:
        return Step(Action.FAIL, 'timed out',
                    error=timeout_error(state, view, now, image_id))
    delay = max(0.0, min(state.read_not_before, state.deadline) - now)
    return Step(Action.WAIT, 'Glance fault %d (%s); reading again in %.1f s'
                % (state.transient_total, state.last_transient, delay),
                delay=delay)


def backoff(base, count, limit):
    """``base``, then doubling per ``count``, at most ``limit``."""
    return min(float(limit), base * 2 ** max(0, count - 1))


def dead_task(state, view, now):
    """The task holding the image, aged to ``now``, when it is dead.

    Dead: it is pending or processing, Glance last updated it at least
    ``stall_bound`` ago (a copy that writes updates it every minute), and
    nothing changed in Glance or the pool for QUIET_CONFIRM seconds (or the
    stall timeout, if shorter) while this boot watched.
    """
    task = state.holder
    if (task is None or task.age is None or task.updated_at is None or
            task.task_id != view.task_id or
            task.status not in GLANCE_LOCK_TTL):
        return None
    # The task as it would read now: nothing changed since it was read,
    # or the quiet check below fails.
    task = dataclasses.replace(
        task, age=task.age + max(0.0, now - state.task_checked_at))
    if task.age < stall_bound(state, view, task):
        return None
    if stalled_for(state, now) < min(QUIET_CONFIRM, state.stall_timeout):
        return None
    return task


def _until_dead(state, view, now):
    """Seconds until the task holding the image would be found dead, if
    nothing changes; infinity when it cannot be.
    """
    task = state.holder
    if (task is None or task.age is None or task.updated_at is None or
            task.task_id != view.task_id or
            task.status not in GLANCE_LOCK_TTL):
        return float('inf')
    age = task.age + max(0.0, now - state.task_checked_at)
    quiet = min(QUIET_CONFIRM, state.stall_timeout)
    until = max(stall_bound(state, view, task) - age,
                quiet - stalled_for(state, now))
    # A little past the moment: far from the clock's origin, a sleep of
    # less than the float's resolution does not move it (the wait would
    # spin without ever finding the task dead).
    return until + DEAD_MARGIN if until > 0 else 0.0


def stall_bound(state, view, task):
    """Seconds without an update after which ``task`` counts as dead:
    the stall timeout, plus the time staging the image may take while the
    task has not written anything yet (STAGING_RATE_FLOOR): no message and,
    as far as this host sees, no image in the store's pool (Glance creates
    it when it starts writing, and first updates the task up to a minute
    later).
    """
    if (task.status == 'processing' and not task.message and
            not state.pool_seen):
        return state.stall_timeout + view.size / STAGING_RATE_FLOOR
    return state.stall_timeout


def dead_task_error(state, view, now, task):
    """ImageCopyStalled; ImageCopyStuckInCeph when the store's pool did
    not answer either (Glance's copy is then most likely blocked on Ceph).
    """
    ttl = GLANCE_LOCK_TTL[task.status]
    release_at = task.updated_at + datetime.timedelta(seconds=ttl)
    kwargs = dict(
        image_id=view.image_id, store=state.store, task_id=task.task_id,
        status=task.status, age=task.age,
        quiet=stalled_for(state, now),
        release_at=release_at.strftime('%Y-%m-%d %H:%M:%S UTC'),
        ttl=ttl // 60, release_in=max(0, round((ttl - task.age) / 60)))
    if state.pool_timed_out:
        return ImageCopyStuckInCeph(pool_error=state.pool_error, **kwargs)
    return ImageCopyStalled(**kwargs)


def unlisted_for(state, view, now):
    """Seconds the task holding the image has been missing from the
    image's tasks (0 when it is listed or not known to be missing).
    """
    if not state.unlisted or state.unlisted[0] != view.task_id:
        return 0.0
    return now - state.unlisted[1]


def warned(state, now):
    """The state after a stall warning was logged."""
    return dataclasses.replace(state, stall_warned_at=now)


def confirming(state):
    """The pool shows the copy complete: read locations, not the image."""
    return state.pool_complete and state.confirm_polls < CONFIRM_TRIES


def wake_early(state):
    """Whether a wait should end now because the pool brought news.

    The pool shows the copy complete (its location is due in Glance), or
    the copy's image vanished from the pool (Glance removed a failed
    copy's partial image: Glance has news).
    """
    return confirming(state) or state.pool_vanished


def retry_backoff(failures):
    return min(RETRY_BACKOFF_MAX, RETRY_BACKOFF_BASE ** failures)


def poll_delay(state):
    """Seconds until the next Glance poll: quick first, backing off idle."""
    first = FIRST_POLL_WATCHED if state.watch_pool else FIRST_POLL
    # Any longer run of idle polls waits max_interval: a bounded exponent
    # cannot overflow however many polls a wait makes.
    idle = min(state.polls_without_change, POLL_GROWTH_CAP)
    return min(state.max_interval, first * POLL_GROWTH ** idle)


def stalled_for(state, now):
    """Seconds since anything visibly changed."""
    return now - state.last_change


def _stall(state, now):
    stalled = stalled_for(state, now)
    if (stalled >= state.stall_timeout and
            now - state.stall_warned_at >= state.stall_timeout):
        return stalled
    return None


def decide(state, view, now, location=None, task=None):
    """The next step while waiting for the image to reach our store.

    ``view`` is the latest read of the image; ``location`` is a location in
    this cluster, when the last read found one; ``task`` is the newest
    import task when our store is marked failed.
    """
    store = state.store
    if location is not None:
        return Step(Action.CLONE, 'image is in store %s' % store)
    try:
        check_bootable(view)
    except exception.ImageUnacceptable as e:
        return Step(Action.FAIL, str(e), error=e)

    if (state.listed_at is not None and store in view.stores and
            now - state.listed_at >= LOCATION_GRACE):
        error = ImageNotCloneable(
            image_id=view.image_id,
            reason=_('Glance lists it in store %s but returns no location in '
                     'this cluster. Nova reads locations with Glance\'s '
                     'locations API, which needs the service or admin role: '
                     'configure Nova\'s [service_user] credentials (see '
                     '[glance] copy_credentials) and, for images that only '
                     'the user\'s project can see, set [service_user] '
                     'send_service_user_token and allow it in Glance\'s '
                     'fetch_image_location policy ("role:admin or '
                     'role:service or service_roles:service")') % store)
        return Step(Action.FAIL, 'no readable location', error=error)
    if now >= state.deadline:
        return Step(Action.FAIL, 'timed out',
                    error=timeout_error(state, view, now))
    dead = dead_task(state, view, now)
    if dead is not None:
        return Step(Action.FAIL, 'dead import task %s' % dead.task_id,
                    error=dead_task_error(state, view, now, dead))

    stalled = _stall(state, now)

    def wait(reason, delay, action=Action.WAIT):
        # Never sleep past the deadline: the timeout is reported on time;
        # nor past the moment a dead task would be recognised.
        delay = max(0.0, min(delay, state.deadline - now,
                             _until_dead(state, view, now)))
        return Step(action, reason, delay=delay, stalled=stalled)

    if confirming(state):
        return wait('the pool shows the copy complete, waiting for Glance to '
                    'register it', CONFIRM_POLL, Action.CONFIRM)
    if store in view.stores:
        # Listed, but its location not readable yet: confirm soon.
        return wait('copy finished, waiting for Glance to register its '
                    'location', CONFIRM_POLL, Action.CONFIRM)
    if state.view_stale:
        # The confirm polls found nothing and the image was read before
        # them: read it again before deciding anything else.
        return wait('no location yet, reading the image again', 0.0)

    delay = poll_delay(state)
    if store in view.importing:
        return wait('Glance is copying to %s' % store, delay)

    if store in view.failed:
        if task is not None and task.status in ('pending', 'processing'):
            # A new copy was accepted and has not cleared the old marker.
            return wait('retry accepted, waiting for it to start', delay)
        if not state.requests:
            # The marker is from an earlier attempt: ask, once any lock is
            # gone.
            if view.task_id:
                return wait('another import holds the image', delay)
            if now < state.not_before:
                return wait('backing off before asking again',
                            min(max(delay, FIRST_POLL),
                                state.not_before - now))
            return Step(Action.REQUEST_COPY, 'an earlier copy to %s failed; '
                        'asking again' % store, delay=AFTER_REQUEST_POLL)
        if len(state.failed_tasks) > state.retries:
            return Step(Action.FAIL, 'copy failed', error=ImageCopyFailed(
                image_id=view.image_id, store=store,
                attempts=len(state.failed_tasks),
                reason=failure_reason(state)))
        if view.task_id:
            return wait('another import holds the image', delay)
        if now < state.not_before:
            return wait('backing off after a failed copy',
                        min(delay, state.not_before - now))
        if task is None and state.requested_at is not None:
            # Glance shows us no task (another project's, or refused): the
            # failure cannot be counted, but the requests still back off.
            again = state.requested_at + retry_backoff(state.requests)
            if now < again:
                return wait('backing off after a failed copy (no task '
                            'visible)', min(delay, again - now))
        return Step(Action.REQUEST_COPY, 'retrying after a failed copy',
                    delay=AFTER_REQUEST_POLL)

    if view.task_id:
        if unlisted_for(state, view, now) >= UNLISTED_GRACE:
            if now >= state.not_before:
                return Step(Action.REQUEST_COPY, 'import task %s holds the '
                            'image but Glance does not list it; asking '
                            '(Glance drops the lock of a task it does not '
                            'have)' % view.task_id, delay=AFTER_REQUEST_POLL)
            return wait('the lock of unlisted task %s answered 409; backing '
                        'off' % view.task_id,
                        min(max(delay, FIRST_POLL), state.not_before - now))
        return wait('another import (task %s) holds the image'
                    % view.task_id, delay)
    if (state.requested_at is not None and
            now - state.requested_at < ACCEPT_GRACE):
        return wait('copy requested, waiting for Glance to start it',
                    min(delay, FIRST_POLL))
    if now < state.not_before:
        # Glance answered 409 although the image shows no import we can
        # see (another project's task): ask again after a backoff.
        return wait('another import holds the image (409 %d time(s)); '
                    'backing off' % state.conflicts,
                    min(max(delay, FIRST_POLL), state.not_before - now))
    return Step(Action.REQUEST_COPY, 'store %s lacks the image' % store,
                delay=AFTER_REQUEST_POLL)


def failure_reason(state):
    return (_('Glance reports the copy failed (%s). The real cause is in the '
              'Glance API log of the node that ran the task (search it for '
              'the task id); check the store\'s Ceph user and pool, then '
              'boot again') % (state.last_failure or 'no task message'))


def timeout_error(state, view, now, image_id=None):
    if view is None:
        # Glance never answered this wait.
        view = ImageView(image_id=image_id, status='', disk_format='', size=0,
                         stores=frozenset(), importing=frozenset(),
                         failed=frozenset(), task_id='')
    importing = state.importing_for(now)
    if importing:
        detail = ', '.join('store %s importing for %.0f s' % (s, t)
                           for s, t in sorted(importing.items()))
    else:
        detail = 'no import was running at the end'
    if view.task_id:
        detail += '; import task %s holds the image' % view.task_id
    detail += '; no visible progress for %.0f s' % stalled_for(state, now)
    if state.requests:
        detail += ('; this host asked Glance to copy %d time(s)'
                   % state.requests)
    if state.conflicts:
        detail += ('; Glance answered 409 (another import) %d time(s)'
                   % state.conflicts)
    if state.transient_total:
        detail += ('; %d Glance request(s) failed, the last: %s'
                   % (state.transient_total, state.last_transient))
    if state.pool_error:
        detail += ('; the store\'s pool could not be read, so only Glance '
                   'was watched: %s' % state.pool_error)
    return ImageCopyTimeout(image_id=view.image_id, store=state.store,
                            timeout=round(state.deadline - state.started),
                            detail=detail)
