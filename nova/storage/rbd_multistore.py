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

"""RBD helpers for booting from images held in several Glance stores.

When Glance has more than one rbd store (one per Ceph cluster, or one per
site), an image may be registered at several ``rbd://`` locations, only some
of which this compute host can clone. This module adds what the libvirt Rbd
image backend needs on top of :mod:`nova.storage.rbd_utils`:

* :class:`RbdLocation` and :func:`parse_location`: a location url parsed once
  and validated strictly, instead of re-split in several places;
* :func:`why_not_cloneable`: the reason a location cannot be cloned here
  (``RBDDriver.is_cloneable`` answers only yes or no), worded for the
  operator;
* :func:`copy_progress`: how far Glance's rbd store has got writing an image
  into a pool of this cluster while Glance copies it there;
* :func:`cluster_fsid`: this cluster's fsid, with a readable error.

They are plain functions over upstream's ``RBDDriver``, whose settings and
connection handling they use as they are.
"""

import dataclasses
import errno
import math
import re
import time
import urllib.parse
import uuid

from oslo_log import log as logging
from oslo_utils import encodeutils

from nova import exception
from nova.i18n import _
from nova.storage import rbd_utils

LOG = logging.getLogger(__name__)

SCHEME = 'rbd://'

# Glance's rbd store protects this snapshot of every image it writes.
GLANCE_SNAPSHOT = 'snap'

# Counting written bytes walks the objects of the image, and copy_progress may
# be called several times a second while a copy runs: the count of one image
# is refreshed at most this often (seconds), except once the copy is complete.
WRITTEN_REFRESH_SECONDS = 2.0

# Disk formats upstream's Rbd backend accepts for cloning (Rbd.clone checks
# for these before it looks at locations).
CLONEABLE_FORMATS = ('raw', 'iso')

_PARTS = ('fsid', 'pool', 'image', 'snapshot')
_UNPRINTABLE = re.compile(r'[\s\x00-\x1f\x7f]')


class CephTimedOut(exception.StorageError):
    """A read of this cluster got no answer within its timeout: a monitor
    or an OSD is down or stopped answering.
    """


class InvalidRbdLocation(exception.ImageUnacceptable):
    # A subclass of ImageUnacceptable, as upstream's RBDDriver.parse_url
    # raises for the same urls: callers that fall back on it keep doing so.
    msg_fmt = _("Not a valid RBD location %(location)s: %(reason)s")


@dataclasses.dataclass(frozen=True)
class RbdLocation:
    """One snapshot of one RBD image in one Ceph cluster."""

    fsid: str
    pool: str
    image: str
    snapshot: str

    @property
    def url(self):
        """The ``rbd://fsid/pool/image/snapshot`` url, each part quoted."""
        return SCHEME + '/'.join(
            urllib.parse.quote(getattr(self, part), safe='')
            for part in _PARTS)

    def __str__(self):
        return self.url


@dataclasses.dataclass(frozen=True)
class CopyProgress:
    """What an image being written into a pool looks like right now.

    ``written_bytes`` counts allocated data with whole-object granularity, so
    it may run up to one object ahead of the bytes actually written; ``size``
    is the size the writer declared for the image.
    """

    exists: bool
    written_bytes: int = 0
    snapshot_protected: bool = False
    size: int = 0


def parse_location(url):
    """Parse ``rbd://fsid/pool/image/snapshot`` into an :class:`RbdLocation`.

    Exactly four parts, each url-unquoted (Glance quotes them) and non-empty;
    the fsid must be a UUID (a cluster's fsid always is) and is lower-cased.
    Anything else raises :class:`InvalidRbdLocation`.
    """
    def invalid(reason):
        return InvalidRbdLocation(location=_shown(url), reason=reason)

    if not isinstance(url, str):
        raise invalid(_('not a string'))
    if not url.startswith(SCHEME):
        raise invalid(_('it does not start with %s') % SCHEME)
    pieces = url[len(SCHEME):].split('/')
    if len(pieces) != len(_PARTS):
        raise invalid(_('expected 4 parts fsid/pool/image/snapshot, got %d')
                      % len(pieces))
    values = {}
    for part, piece in zip(_PARTS, pieces):
        value = urllib.parse.unquote(piece)
        if not value:
            raise invalid(_('the %s is empty') % part)
        if _UNPRINTABLE.search(value):
            raise invalid(_('the %s contains whitespace or control '
                            'characters') % part)
        values[part] = value
    try:
        fsid = uuid.UUID(values['fsid'])
    except ValueError:
        fsid = None
    if fsid is None or str(fsid) != values['fsid'].lower():
        raise invalid(_('the fsid %s is not a UUID') % values['fsid'])
    values['fsid'] = str(fsid)
    if '/' in values['pool']:
        raise invalid(_('the pool name contains "/"'))
    return RbdLocation(**values)


def _shown(url):
    """``url`` as it may be logged: other stores' urls may carry
    credentials (a swift url can), so only their scheme is shown.
    """
    if not isinstance(url, str):
        return '<%s>' % type(url).__name__
    if url.startswith(SCHEME):
        return url
    scheme, sep, _rest = url.partition('://')
    return '%s://...' % scheme if sep else '...'


def as_location(location):
    """An :class:`RbdLocation` from one, from a url, or from a Glance
    location dict (``{'url': ..., 'metadata': {...}}``).
    """
    if isinstance(location, RbdLocation):
        return location
    return parse_location(_url_of(location))


def _url_of(location):
    if isinstance(location, RbdLocation):
        return location.url
    if isinstance(location, dict):
        return location.get('url')
    return location


# Every RADOS and RBD operation of the reads below (the fsid, a location's
# snapshots, the pool watch) fails after this many seconds instead of
# waiting for a monitor or OSD that does not answer (librados waits forever
# by default). The reads are a few small metadata operations each, which a
# healthy cluster answers in milliseconds. Upstream's own connections
# (clone, flatten, resize, remove; imports run the rbd CLI) keep librados'
# defaults: a write cut short by a timeout is left half done.
READ_OP_TIMEOUT = 30


class _Reader(object):
    """Upstream's driver, connected for reads with bounded operations.

    Stands in for the driver in upstream's ``RADOSClient`` and
    ``RBDVolumeProxy``, which use only these two methods. ``timeout``
    (seconds, optional) shortens both bounds, the monitor connect's
    (``rbd_connect_timeout``) and every operation's (READ_OP_TIMEOUT).
    """

    def __init__(self, driver, timeout=None):
        self.driver = driver
        self.connect_timeout = _bounded(driver.rbd_connect_timeout, timeout)
        self.op_timeout = _bounded(READ_OP_TIMEOUT, timeout)

    def _connect_to_rados(self, pool=None):
        driver = self.driver
        client = rbd_utils.rados.Rados(
            rados_id=driver.rbd_user, conffile=driver.ceph_conf,
            conf={'client_mount_timeout': str(self.connect_timeout),
                  'rados_mon_op_timeout': str(self.op_timeout),
                  'rados_osd_op_timeout': str(self.op_timeout)})
        try:
            client.connect(timeout=self.connect_timeout)
            return client, client.open_ioctx(str(pool or driver.pool))
        except rbd_utils.rados.Error:
            client.shutdown()
            raise

    def _disconnect_from_rados(self, client, ioctx):
        self.driver._disconnect_from_rados(client, ioctx)


def _bounded(limit, timeout):
    """``limit`` seconds, or ``timeout`` if it is shorter: whole seconds,
    at least 1 (librados takes 0 for no timeout at all).
    """
    if timeout is None:
        return limit
    bound = max(1, int(math.ceil(timeout)))
    return min(limit, bound) if limit > 0 else bound


# --- reasons ---------------------------------------------------------------
#
# Plain functions over upstream's ``rbd_utils.RBDDriver`` (its pool, user,
# ceph.conf and connect timeout; its RADOSClient and RBDVolumeProxy, one
# connection per call): the driver nova-compute builds stays the one that
# upstream builds.

def _user_name(driver):
    return 'client.%s' % (driver.rbd_user or 'admin')


def _conf_name(driver):
    return driver.ceph_conf or _('the default ceph.conf')


def _storage_error(driver, error, pool, reader=None):
    """A ``rados``/``rbd`` binding error as a StorageError (CephTimedOut
    when Ceph did not answer in time).
    """
    reason = _ceph_reason(driver, error, pool, reader)
    if _timed_out(error):
        return CephTimedOut(reason=reason)
    return exception.StorageError(reason=reason)


def _timed_out(error):
    return (isinstance(error, rbd_utils.rados.TimedOut) or
            getattr(error, 'errno', None) == errno.ETIMEDOUT)


def _ceph_reason(driver, error, pool, reader=None):
    """What a ``rados``/``rbd`` binding error means, and what to check."""
    rados = rbd_utils.rados
    reader = reader or _Reader(driver)
    details = {'conf': _conf_name(driver), 'user': _user_name(driver),
               'pool': pool, 'timeout': reader.connect_timeout,
               'op_timeout': reader.op_timeout, 'error': _describe(error)}
    if isinstance(error, rados.TimedOut):
        reason = _('no Ceph monitor answered %(user)s within %(timeout)s '
                   's: check mon_host in %(conf)s and that the cluster '
                   'is up ([libvirt] rbd_connect_timeout bounds this '
                   'wait)') % details
    elif _timed_out(error):
        # librbd's ETIMEDOUT: rados_osd_op_timeout ran out.
        reason = _('Ceph did not complete a read of pool %(pool)s for '
                   '%(user)s within %(op_timeout)s s: an OSD of that pool '
                   'is down or stopped answering (see "ceph health '
                   'detail" and "ceph osd stat" for the cluster of '
                   '%(conf)s)') % details
    elif isinstance(error, (rados.PermissionError,
                            rados.PermissionDeniedError)):
        reason = _('the Ceph monitors refused %(user)s: check its keyring '
                   '(named in %(conf)s) and [libvirt] rbd_user') % details
    elif isinstance(error, rados.ObjectNotFound):
        reason = _('pool %(pool)s does not exist in the cluster of '
                   '%(conf)s, or that file cannot be read') % details
    elif isinstance(error, rbd_utils.rbd.PermissionError):
        reason = _('%(user)s may not read pool %(pool)s: grant it '
                   '"profile rbd-read-only pool=%(pool)s" (or "profile '
                   'rbd") in its OSD caps') % details
    else:
        reason = _('Ceph (%(conf)s, %(user)s, pool %(pool)s) failed: '
                   '%(error)s') % details
    return reason


def cluster_fsid(driver, timeout=None):
    """The fsid of ``driver``'s cluster, lower-cased.

    A connection failure is a :class:`nova.exception.StorageError` that
    says what to check. ``timeout`` shortens the connect's bound.
    """
    reader = _Reader(driver, timeout)
    try:
        with rbd_utils.RADOSClient(reader) as client:
            return encodeutils.safe_decode(
                client.cluster.get_fsid()).lower()
    except rbd_utils.rados.Error as e:
        raise _storage_error(driver, e, driver.pool, reader)


# --- clone decisions -------------------------------------------------------

def why_not_cloneable(driver, location, image_meta, timeout=None):
    """None when ``location`` can be cloned by ``driver``, else why not.

    ``location`` is a Glance location dict, a url or an
    :class:`RbdLocation`; ``image_meta`` is Nova's image dict or an
    ``ImageMeta``. The reason says what the operator can change (upstream's
    ``RBDDriver.is_cloneable`` answers only yes or no). Failing to reach
    this host's own cluster is no reason: it raises
    :class:`nova.exception.StorageError`. ``timeout`` (seconds) shortens
    the bound of each Ceph operation.
    """
    try:
        loc = as_location(location)
    except InvalidRbdLocation as e:
        reason = e.format_message()
    else:
        reason = _why_not_cloneable(driver, loc, image_meta, timeout)
    if reason:
        LOG.debug('Cannot clone %(location)s: %(reason)s',
                  {'location': _shown(_url_of(location)), 'reason': reason})
    return reason


def _why_not_cloneable(driver, loc, image_meta, timeout):
    disk_format = _meta_get(image_meta, 'disk_format')
    if disk_format not in CLONEABLE_FORMATS:
        return _('its disk_format is %s and only raw (or iso) images can be '
                 'cloned: upload the image as raw (or have Glance convert '
                 'it on import with its image_conversion plugin)'
                 ) % (disk_format or _('unknown'))
    fsid = cluster_fsid(driver, timeout)
    if loc.fsid != fsid:
        return _('it is in Ceph cluster %(theirs)s but this host uses '
                 'cluster %(ours)s (%(conf)s): Nova needs a copy in a '
                 'Glance store of its own cluster, named in [libvirt] '
                 'images_rbd_glance_store_name') % {
                     'theirs': loc.fsid, 'ours': fsid,
                     'conf': _conf_name(driver)}
    rados, rbd = rbd_utils.rados, rbd_utils.rbd
    reader = _Reader(driver, timeout)
    try:
        with rbd_utils.RBDVolumeProxy(reader, loc.image,
                                      pool=loc.pool, read_only=True) as vol:
            snapshots = {s['name'] for s in vol.list_snaps()}
            if loc.snapshot not in snapshots:
                return _('image %(pool)s/%(image)s has no snapshot '
                         '%(snap)s: the image was not written by '
                         'Glance\'s rbd store, or was changed since'
                         ) % {'pool': loc.pool, 'image': loc.image,
                              'snap': loc.snapshot}
            if (not vol.is_protected_snap(loc.snapshot) and
                    not _clone_v2(vol.client)):
                return _('snapshot %(pool)s/%(image)s@%(snap)s is not '
                         'protected and clone format 1 needs protected '
                         'parents: protect it ("rbd snap protect") or '
                         'set rbd_default_clone_format = 2 for %(user)s'
                         ) % {'pool': loc.pool, 'image': loc.image,
                              'snap': loc.snapshot,
                              'user': _user_name(driver)}
    except rbd.ImageNotFound:
        return _('image %(pool)s/%(image)s does not exist in cluster '
                 '%(fsid)s') % {'pool': loc.pool, 'image': loc.image,
                                'fsid': fsid}
    except (rados.Error, rbd.Error) as e:
        if isinstance(e, rados.Error) and not isinstance(
                e, rados.ObjectNotFound):
            # Not about this location: the cluster itself is unreachable.
            raise _storage_error(driver, e, loc.pool, reader)
        return _ceph_reason(driver, e, loc.pool, reader)
    return None


# --- watching a copy -------------------------------------------------------

def copy_progress(driver, pool, name, snapshot=GLANCE_SNAPSHOT, cache=None,
                  timeout=None):
    """How far an image being written as ``pool/name`` has got.

    Glance's rbd store creates ``<pool>/<image_id>`` at its full size,
    writes the data, then creates and protects ``snapshot``: a protected
    snapshot means the data is complete. ``exists`` is False until the
    image is created and again if it is removed (a failed copy cleans up).
    Any other Ceph error is a :class:`nova.exception.StorageError`.

    ``cache`` is a dict the caller keeps between calls: with it, the
    written bytes of one image are counted at most every
    ``WRITTEN_REFRESH_SECONDS`` (counting walks the image's objects).
    ``timeout`` (seconds) shortens the bound of each Ceph operation: a
    read that gets no answer in time is a :class:`CephTimedOut`.
    """
    cache = {} if cache is None else cache
    key = (pool, name)
    reader = _Reader(driver, timeout)
    try:
        with rbd_utils.RBDVolumeProxy(reader, name, pool=pool,
                                      read_only=True) as vol:
            size = vol.size()
            protected = (
                any(s['name'] == snapshot for s in vol.list_snaps()) and
                vol.is_protected_snap(snapshot))
            written = _written_bytes(vol, cache, key, size, protected)
    except rbd_utils.rbd.ImageNotFound:
        # Not created yet, or removed (also between the open and reads).
        cache.pop(key, None)
        return CopyProgress(exists=False)
    except (rbd_utils.rados.Error, rbd_utils.rbd.Error) as e:
        raise _storage_error(driver, e, pool, reader)
    return CopyProgress(exists=True, written_bytes=written,
                        snapshot_protected=protected, size=size)


def _written_bytes(vol, cache, key, size, final):
    now = time.monotonic()
    last = cache.get(key)
    if (last is not None and not final and
            now - last[0] < WRITTEN_REFRESH_SECONDS):
        return last[1]
    written = allocated_bytes(vol, size)
    if final:
        cache.pop(key, None)
    else:
        cache[key] = (now, written)
    return written


def allocated_bytes(volume, size):
    """Bytes of ``volume`` held in allocated objects (whole objects)."""
    total = 0

    def count(offset, length, exists):
        nonlocal total
        if exists:
            total += length
        return 0

    volume.diff_iterate(0, size, None, count, include_parent=False,
                        whole_object=True)
    return total


def _clone_v2(client):
    """Whether the client is set to make clone format 2 (which clones
    unprotected snapshots).
    """
    try:
        value = client.conf_get('rbd_default_clone_format')
    except rbd_utils.rados.Error:
        return False
    return encodeutils.safe_decode(value or '') == '2'


def _meta_get(image_meta, key):
    """``key`` of Nova's image dict or of an ``ImageMeta`` (None if unset)."""
    if isinstance(image_meta, dict):
        return image_meta.get(key)
    if hasattr(image_meta, 'obj_attr_is_set'):
        if not image_meta.obj_attr_is_set(key):
            return None
    return getattr(image_meta, key, None)


def _describe(error):
    """A binding error as text: its class and message (never a key)."""
    return '%s: %s' % (type(error).__name__, error)
