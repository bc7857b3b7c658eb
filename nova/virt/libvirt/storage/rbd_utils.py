"""Thin Ceph I/O for the libvirt RBD image backend.

:class:`RBDDriver` wraps Debian's ``rados``/``rbd`` bindings: it connects once per
process (the connection is shared by every call and thread), opens an ioctx per call and
closes every handle on every path, and turns binding errors into :mod:`nova.exception`
types. It decides nothing about Glance; :mod:`nova.virt.libvirt.image_copy` does.

:class:`RbdLocation` is a parsed ``rbd://fsid/pool/image/snapshot`` url, the form Glance's
rbd store registers as an image location.
"""

import contextlib
import dataclasses
import json
import os
import re
import threading
import time
import urllib.parse

from oslo_log import log as logging
import rados
import rbd

from nova import exception

LOG = logging.getLogger(__name__)

_SCHEME = 'rbd://'
_UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
                      re.IGNORECASE)

# import_image writes in chunks of this size and skips chunks that are all zeros, so a
# sparse raw file stays sparse in Ceph.
IMPORT_CHUNK = 8 * 1024 * 1024

# Counting written bytes walks every object of the image; copy_progress is called every
# few hundred milliseconds, so it recounts at most this often per image.
WRITTEN_REFRESH_SECONDS = 2.0

# Binding errors that mean the cluster handle itself is unusable, not just one request.
_BROKEN = (rados.ConnectionShutdown, rados.NotConnected, rbd.ConnectionShutdown)


@dataclasses.dataclass(frozen=True)
class RbdLocation:
    """One snapshot of one RBD image in one cluster."""

    fsid: str
    pool: str
    image: str
    snapshot: str

    def __str__(self):
        parts = (self.fsid, self.pool, self.image, self.snapshot)
        return _SCHEME + '/'.join(urllib.parse.quote(p, safe='') for p in parts)


def parse_location(url):
    """Parse ``rbd://fsid/pool/image/snapshot`` into an :class:`RbdLocation`.

    Each part is url-quoted (as Glance writes them) and must be non-empty; the fsid must
    be a UUID. Anything else raises :class:`nova.exception.InvalidRbdLocation`.
    """
    def bad(reason):
        return exception.InvalidRbdLocation(location=url, reason=reason)

    if not isinstance(url, str):
        raise bad('not a string')
    if not url.startswith(_SCHEME):
        raise bad('does not start with %s' % _SCHEME)
    pieces = url[len(_SCHEME):].split('/')
    if len(pieces) != 4:
        raise bad('expected 4 parts fsid/pool/image/snapshot, got %d' % len(pieces))
    names = ('fsid', 'pool', 'image', 'snapshot')
    parts = []
    for name, piece in zip(names, pieces):
        value = urllib.parse.unquote(piece)
        if not value:
            raise bad('the %s is empty' % name)
        if any(c.isspace() or not c.isprintable() for c in value):
            raise bad('the %s contains whitespace or control characters' % name)
        parts.append(value)
    if not _UUID_RE.match(parts[0]):
        raise bad('the fsid %r is not a UUID' % parts[0])
    if '/' in parts[1]:
        raise bad('the pool name contains "/"')
    return RbdLocation(parts[0].lower(), *parts[1:])


def _as_location(location):
    return location if isinstance(location, RbdLocation) else parse_location(location)


@dataclasses.dataclass(frozen=True)
class CopyProgress:
    """What an image being written into a pool looks like right now.

    ``written_bytes`` counts allocated data (whole objects), so it may run up to one
    object ahead of the bytes actually written; ``size`` is the image's declared size.
    """

    exists: bool
    size: int = 0
    written_bytes: int = 0
    snapshot_protected: bool = False


class RBDDriver:
    """RBD operations in one cluster as one cephx user."""

    def __init__(self, pool, ceph_conf, rbd_user, connect_timeout=5):
        self.pool = pool
        self.ceph_conf = ceph_conf or ''
        self.rbd_user = rbd_user or None
        self.connect_timeout = int(connect_timeout)
        self._lock = threading.Lock()
        self._client = None
        self._client_pid = None
        self._fsid = None
        # (pool, name) -> (monotonic time, written bytes) for copy_progress.
        self._written = {}

    @classmethod
    def from_conf(cls, conf=None):
        if conf is None:
            import nova.conf
            conf = nova.conf.CONF
        lv = conf.libvirt
        return cls(pool=lv.images_rbd_pool, ceph_conf=lv.images_rbd_ceph_conf,
                   rbd_user=lv.rbd_user, connect_timeout=lv.rbd_connect_timeout)

    # --- connection ------------------------------------------------------------------

    def _conf_name(self):
        return self.ceph_conf or 'the default ceph.conf'

    def _user_name(self):
        return 'client.%s' % (self.rbd_user or 'admin')

    def _connection_failed(self, reason):
        return exception.CephConnectionFailed(
            conf=self._conf_name(), user=self._user_name(), reason=reason)

    def _connect_to_rados(self):
        timeout = str(self.connect_timeout)
        try:
            client = rados.Rados(conffile=self.ceph_conf or None, rados_id=self.rbd_user)
        except rados.Error as e:
            raise self._connection_failed(
                'cannot read the configuration (%s)' % _describe(e))
        try:
            if not self.ceph_conf:
                client.conf_read_file()
            # Rados.connect()'s timeout argument is ignored by Ceph 16's bindings (a
            # dead mon blocks for client_mount_timeout, 300 s). Set after reading the
            # file so that rbd_connect_timeout wins over the file's values.
            client.conf_set('client_mount_timeout', timeout)
            client.conf_set('rados_mon_op_timeout', timeout)
            client.connect()
        except rados.TimedOut:
            client.shutdown()
            raise self._connection_failed(
                'no monitor answered within %s s (is mon_host right and the cluster '
                'up?)' % timeout)
        except (rados.PermissionDeniedError, rados.PermissionError):
            client.shutdown()
            raise self._connection_failed('the monitors refused authentication')
        except rados.Error as e:
            client.shutdown()
            raise self._connection_failed(_describe(e))
        # Refreshed on every (re)connect: the conf may now point at another cluster.
        self._fsid = client.get_fsid()
        LOG.debug('Connected to Ceph cluster %(fsid)s (%(conf)s) as %(user)s',
                  {'fsid': self._fsid, 'conf': self._conf_name(),
                   'user': self._user_name()})
        return client

    def get_connection(self):
        """The shared cluster connection, made on first use and again if it broke."""
        with self._lock:
            client = self._client
            if client is not None and self._client_pid != os.getpid():
                # A forked child must not use (or shut down) its parent's connection.
                client = None
            elif client is not None and client.state != 'connected':
                _shutdown_quietly(client)
                client = None
            if client is None:
                self._client = None
                client = self._connect_to_rados()
                self._client, self._client_pid = client, os.getpid()
            return client

    def _forget(self, client):
        """Drop ``client`` if it is still the shared one; the next call reconnects."""
        with self._lock:
            if self._client is client:
                self._client = None
                _shutdown_quietly(client)

    def close(self):
        """Shut the shared connection down (a later call connects again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._client_pid == os.getpid():
            _shutdown_quietly(client)

    @contextlib.contextmanager
    def connect(self, pool=None):
        """``with driver.connect(pool) as (client, ioctx):`` an ioctx on the shared client.

        The ioctx is closed on every path. A connection that turns out to be broken is
        dropped and reported as :class:`nova.exception.CephConnectionFailed`.
        """
        pool = pool or self.pool
        client = self.get_connection()
        try:
            ioctx = client.open_ioctx(pool)
        except rados.ObjectNotFound:
            raise exception.StorageError(
                reason='Ceph pool %s does not exist in cluster %s (%s). Create it or '
                       'fix [libvirt] images_rbd_pool / the Glance store\'s pool.'
                       % (pool, self.get_fsid(), self._conf_name()))
        except _BROKEN as e:
            self._forget(client)
            raise self._connection_failed(_describe(e))
        try:
            yield client, ioctx
        except _BROKEN as e:
            self._forget(client)
            raise self._connection_failed(_describe(e))
        finally:
            ioctx.close()

    @contextlib.contextmanager
    def _image(self, name, pool=None, snapshot=None, read_only=False):
        """Open ``pool/name`` (RbdImageNotFound if it does not exist)."""
        pool = pool or self.pool
        with self.connect(pool) as (_client, ioctx):
            try:
                image = rbd.Image(ioctx, name, snapshot=snapshot, read_only=read_only)
            except rbd.ImageNotFound:
                raise exception.RbdImageNotFound(pool=pool, name=name)
            except rbd.PermissionError:
                raise self._permission_denied(
                    pool, '%s %s' % ('read' if read_only else 'modify', name))
            try:
                yield image
            finally:
                image.close()

    def _permission_denied(self, pool, what):
        return exception.StorageError(
            reason='%s may not %s in pool %s: grant it "profile rbd" (or '
                   '"profile rbd-read-only" for a pool it only clones from) on that pool'
                   % (self._user_name(), what, pool))

    # --- cluster facts ---------------------------------------------------------------

    def get_fsid(self):
        """The cluster's fsid, read once per connection."""
        self.get_connection()
        return self._fsid

    def get_mon_addrs(self):
        """``(hosts, ports)`` of the monitors, as libvirt's network disk wants them."""
        client = self.get_connection()
        cmd = json.dumps({'prefix': 'mon dump', 'format': 'json'})
        try:
            ret, out, status = client.mon_command(cmd, b'')
        except _BROKEN as e:
            self._forget(client)
            raise self._connection_failed(_describe(e))
        except rados.Error as e:
            raise exception.StorageError(reason='"mon dump" failed in cluster %s: %s'
                                         % (self.get_fsid(), _describe(e)))
        if ret != 0:
            raise exception.StorageError(
                reason='"mon dump" failed in cluster %s: %s (%d)'
                       % (self.get_fsid(), status, ret))
        return parse_mon_dump(out)

    # --- clone decisions -------------------------------------------------------------

    def why_not_cloneable(self, location, image_meta):
        """None when ``location`` can be cloned here, else why not (for the operator)."""
        reason = self._why_not_cloneable(location, image_meta)
        if reason:
            LOG.debug('Cannot clone %(loc)s: %(reason)s', {'loc': location, 'reason': reason})
        return reason

    def is_cloneable(self, location, image_meta):
        return self.why_not_cloneable(location, image_meta) is None

    def _why_not_cloneable(self, location, image_meta):
        try:
            loc = _as_location(location)
        except exception.InvalidRbdLocation as e:
            return e.format_message()
        disk_format = _meta_get(image_meta, 'disk_format')
        if disk_format != 'raw':
            return ('its disk_format is %s, and only raw images can be cloned'
                    % (disk_format or 'unknown'))
        fsid = self.get_fsid()
        if loc.fsid.lower() != fsid.lower():
            return ('it is in Ceph cluster %s, but this host uses cluster %s'
                    % (loc.fsid, fsid))
        try:
            with self._image(loc.image, pool=loc.pool, read_only=True) as image:
                snaps = {s['name'] for s in image.list_snaps()}
                if loc.snapshot not in snaps:
                    return ('image %s/%s has no snapshot %s'
                            % (loc.pool, loc.image, loc.snapshot))
                if not image.is_protected_snap(loc.snapshot):
                    return ('snapshot %s/%s@%s is not protected (clone format 1 needs '
                            'protected parents)' % (loc.pool, loc.image, loc.snapshot))
        except exception.RbdImageNotFound:
            return 'image %s/%s does not exist' % (loc.pool, loc.image)
        except exception.StorageError as e:
            if isinstance(e, exception.CephConnectionFailed):
                raise
            return 'pool %s: %s' % (loc.pool, e.format_message())
        except rbd.PermissionError:
            return ('pool %s is not readable by %s' % (loc.pool, self._user_name()))
        return None

    # --- images ----------------------------------------------------------------------

    def clone(self, location, dest_name, dest_pool=None):
        """Copy-on-write clone of the location's snapshot as ``dest_pool/dest_name``."""
        loc = _as_location(location)
        dest_pool = dest_pool or self.pool
        with self.connect(loc.pool) as (_c, src), self.connect(dest_pool) as (_c2, dst):
            try:
                rbd.RBD().clone(src, loc.image, loc.snapshot, dst, dest_name,
                                features=rbd.RBD_FEATURE_LAYERING)
            except rbd.ImageExists:
                raise exception.RbdImageExists(action='clone %s' % loc, pool=dest_pool,
                                               name=dest_name)
            except rbd.ImageNotFound:
                raise exception.RbdImageNotFound(
                    pool=loc.pool, name='%s@%s' % (loc.image, loc.snapshot))
            except rbd.PermissionError:
                raise self._permission_denied(dest_pool, 'clone %s into' % loc)
            except rbd.InvalidArgument as e:
                raise exception.StorageError(
                    reason='cannot clone %s to %s/%s: %s (is the snapshot protected?)'
                           % (loc, dest_pool, dest_name, _describe(e)))
        LOG.debug('Cloned %(loc)s to %(pool)s/%(name)s',
                  {'loc': loc, 'pool': dest_pool, 'name': dest_name})

    def exists(self, name, pool=None, snapshot=None):
        try:
            with self._image(name, pool=pool, read_only=True) as image:
                if snapshot is None:
                    return True
                return any(s['name'] == snapshot for s in image.list_snaps())
        except exception.RbdImageNotFound:
            return False

    def size(self, name, pool=None):
        with self._image(name, pool=pool, read_only=True) as image:
            return image.size()

    def resize(self, name, size, pool=None):
        """Grow ``name`` to ``size`` bytes; shrinking is refused, equal is a no-op."""
        pool = pool or self.pool
        with self._image(name, pool=pool) as image:
            current = image.size()
            if size < current:
                raise exception.Invalid(
                    reason='refusing to shrink RBD image %s/%s from %d to %d bytes: the '
                           'data past the new end would be lost'
                           % (pool, name, current, size))
            if size > current:
                image.resize(size)
                LOG.debug('Resized %(pool)s/%(name)s from %(old)d to %(new)d bytes',
                          {'pool': pool, 'name': name, 'old': current, 'new': size})

    def flatten(self, name, pool=None):
        """Copy the parent's data into ``name`` so that it no longer depends on it."""
        with self._image(name, pool=pool) as image:
            image.flatten()

    def parent_info(self, name, pool=None):
        """The :class:`RbdLocation` ``name`` was cloned from, or None."""
        with self._image(name, pool=pool, read_only=True) as image:
            try:
                parent_pool, parent_image, parent_snap = image.parent_info()
            except rbd.ImageNotFound:
                return None
        return RbdLocation(self.get_fsid(), parent_pool, parent_image, parent_snap)

    def list_children(self, name, pool=None, snapshot=None):
        """``[(pool, image)]`` cloned from ``name`` (from ``snapshot``, or from any)."""
        with self._image(name, pool=pool, read_only=True) as image:
            return self._children(image, snapshot)

    @staticmethod
    def _children(image, snapshot=None):
        snaps = [snapshot] if snapshot else [s['name'] for s in image.list_snaps()]
        children = []
        for snap in snaps:
            image.set_snap(snap)
            children.extend((c['pool'], c['image']) for c in image.list_children2())
        image.set_snap(None)
        return sorted(set(children))

    def create_snap(self, name, snapshot, pool=None, protect=True):
        with self._image(name, pool=pool) as image:
            image.create_snap(snapshot)
            if protect:
                image.protect_snap(snapshot)

    def remove_snap(self, name, snapshot, pool=None):
        """Unprotect and remove a snapshot; one that is already gone is fine.

        A snapshot with clones is refused with :class:`nova.exception.RbdImageBusy`.
        """
        pool = pool or self.pool
        with self._image(name, pool=pool) as image:
            self._remove_snap(image, pool, name, snapshot)

    def _remove_snap(self, image, pool, name, snapshot):
        if snapshot not in {s['name'] for s in image.list_snaps()}:
            return
        children = self._children(image, snapshot)
        if children:
            raise exception.RbdImageBusy(
                pool=pool, name='%s@%s' % (name, snapshot),
                reason=_clones_reason(children))
        try:
            if image.is_protected_snap(snapshot):
                image.unprotect_snap(snapshot)
            image.remove_snap(snapshot)
        except rbd.ImageBusy:
            # A clone appeared between the check and the unprotect.
            raise exception.RbdImageBusy(
                pool=pool, name='%s@%s' % (name, snapshot),
                reason='a clone of it was just created')
        except rbd.ImageNotFound:
            pass

    def remove_image(self, name, pool=None):
        """Remove ``name`` and its snapshots.

        Refuses an image with clones (:class:`nova.exception.RbdImageBusy`): removing
        it would break them. An image that is already gone is not an error.
        """
        pool = pool or self.pool
        try:
            with self._image(name, pool=pool) as image:
                children = self._children(image)
                if children:
                    raise exception.RbdImageBusy(pool=pool, name=name,
                                                 reason=_clones_reason(children))
                for snap in [s['name'] for s in image.list_snaps()]:
                    self._remove_snap(image, pool, name, snap)
        except exception.RbdImageNotFound:
            LOG.debug('RBD image %(pool)s/%(name)s is already gone',
                      {'pool': pool, 'name': name})
            return
        with self.connect(pool) as (_client, ioctx):
            try:
                rbd.RBD().remove(ioctx, name)
            except rbd.ImageNotFound:
                return
            except rbd.ImageBusy:
                raise exception.RbdImageBusy(
                    pool=pool, name=name,
                    reason='a client has it open (a running guest?); stop it and retry')
            except rbd.ImageHasSnapshots:
                raise exception.RbdImageBusy(
                    pool=pool, name=name, reason='a snapshot was created meanwhile')
        LOG.debug('Removed RBD image %(pool)s/%(name)s', {'pool': pool, 'name': name})

    def cleanup_volumes(self, prefix, pool=None):
        """Remove every image of ``pool`` whose name starts with ``prefix``.

        Returns the names removed. Images that cannot be removed (clones depend on them,
        or a guest still has them open) are left, and the first such error is raised
        after the others were removed.
        """
        if not prefix:
            raise exception.Invalid(reason='cleanup_volumes needs a non-empty prefix')
        pool = pool or self.pool
        with self.connect(pool) as (_client, ioctx):
            names = [n for n in rbd.RBD().list(ioctx) if n.startswith(prefix)]
        removed, failure = [], None
        for name in names:
            try:
                self.remove_image(name, pool=pool)
                removed.append(name)
            except exception.RbdImageBusy as e:
                LOG.warning('Not removing %(pool)s/%(name)s: %(err)s',
                            {'pool': pool, 'name': name, 'err': e.format_message()})
                failure = failure or e
        if failure is not None:
            raise failure
        return removed

    def import_image(self, path, name, pool=None):
        """Create ``name`` (format 2, layering) with the content of the local ``path``."""
        pool = pool or self.pool
        size = os.path.getsize(path)
        with self.connect(pool) as (_client, ioctx):
            try:
                rbd.RBD().create(ioctx, name, size, old_format=False,
                                 features=rbd.RBD_FEATURE_LAYERING)
            except rbd.ImageExists:
                raise exception.RbdImageExists(action='import %s' % path, pool=pool,
                                               name=name)
            except rbd.PermissionError:
                raise self._permission_denied(pool, 'create images')
            try:
                with rbd.Image(ioctx, name) as image, open(path, 'rb') as src:
                    _copy_sparse(src, image)
            except BaseException:
                with contextlib.suppress(rbd.Error):
                    rbd.RBD().remove(ioctx, name)
                raise
        LOG.debug('Imported %(path)s (%(size)d bytes) as %(pool)s/%(name)s',
                  {'path': path, 'size': size, 'pool': pool, 'name': name})

    # --- watching a copy -------------------------------------------------------------

    def copy_progress(self, pool, name, snapshot='snap'):
        """How far an image being written into ``pool`` (by Glance's store) has got.

        Cheap enough to call every 0.1-0.2 s: one image open; the written bytes are
        recounted at most every ``WRITTEN_REFRESH_SECONDS`` per image.
        """
        try:
            with self._image(name, pool=pool, read_only=True) as image:
                size = image.size()
                protected = False
                if any(s['name'] == snapshot for s in image.list_snaps()):
                    protected = image.is_protected_snap(snapshot)
                written = self._written_bytes(image, pool, name, size, protected)
        except exception.RbdImageNotFound:
            self._written.pop((pool, name), None)
            return CopyProgress(exists=False)
        except rbd.ImageNotFound:
            # Removed (a failed copy cleaned up) between the open and the reads.
            self._written.pop((pool, name), None)
            return CopyProgress(exists=False)
        return CopyProgress(exists=True, size=size, written_bytes=written,
                            snapshot_protected=protected)

    def _written_bytes(self, image, pool, name, size, final):
        now = time.monotonic()
        key = (pool, name)
        last = self._written.get(key)
        if last is not None and not final and now - last[0] < WRITTEN_REFRESH_SECONDS:
            return last[1]
        written = allocated_bytes(image, size)
        self._written[key] = (now, written)
        return written


def allocated_bytes(image, size):
    """Bytes of ``image`` held in allocated objects (whole-object granularity)."""
    total = [0]

    def count(offset, length, exists):
        if exists:
            total[0] += length
        return 0

    image.diff_iterate(0, size, None, count, include_parent=False, whole_object=True)
    return total[0]


def parse_mon_dump(out):
    """``(hosts, ports)`` from ``mon dump -f json`` output, one address per monitor.

    msgr2 (v2) addresses are preferred; IPv6 hosts come without brackets.
    """
    try:
        mons = json.loads(out)['mons']
    except (ValueError, KeyError, TypeError) as e:
        raise exception.StorageError(reason='cannot parse "mon dump": %s' % e)
    hosts, ports = [], []
    for mon in mons:
        addrs = (mon.get('public_addrs') or {}).get('addrvec') or []
        by_type = {a.get('type'): a.get('addr') for a in addrs}
        addr = by_type.get('v2') or by_type.get('v1') or mon.get('public_addr') or ''
        addr = addr.split('/', 1)[0]
        host, sep, port = addr.rpartition(':')
        if not sep or not host or not port.isdigit():
            LOG.warning('Ignoring monitor %(name)s with unusable address %(addr)r',
                        {'name': mon.get('name'), 'addr': addr})
            continue
        hosts.append(host.strip('[]'))
        ports.append(port)
    return hosts, ports


def _copy_sparse(src, image):
    offset = 0
    zero = bytes(IMPORT_CHUNK)
    while True:
        chunk = src.read(IMPORT_CHUNK)
        if not chunk:
            break
        if chunk != zero[:len(chunk)]:
            image.write(chunk, offset)
        offset += len(chunk)
    image.flush()


def _clones_reason(children):
    shown = ', '.join('%s/%s' % c for c in children[:5])
    more = ' and %d more' % (len(children) - 5) if len(children) > 5 else ''
    return ('%d clone(s) depend on it (%s%s); remove or flatten them first'
            % (len(children), shown, more))


def _meta_get(image_meta, key):
    if isinstance(image_meta, dict):
        return image_meta.get(key)
    return getattr(image_meta, key, None)


def _describe(error):
    """A binding error as text: its class and message (they never carry keys)."""
    return '%s: %s' % (type(error).__name__, error)


def _shutdown_quietly(client):
    try:
        client.shutdown()
    except Exception as e:  # a broken handle may fail to shut down; nothing to do
        LOG.debug('Ignoring error while shutting a Ceph connection down: %s', e)
