"""The libvirt connection of one compute host: domains and secrets.

libvirt (``python3-libvirt``) is imported lazily so that unit tests and ``--help`` work
on machines without it.
"""

import threading

from oslo_log import log as logging

from nova import exception

LOG = logging.getLogger(__name__)

DEFAULT_URI = 'qemu:///system'


_quiet = []


def libvirt_module():
    import libvirt
    if not _quiet:
        # libvirt's default handler prints every failed call to stderr, expected ones
        # (a lookup of a domain that is gone) included; errors reach us as exceptions.
        libvirt.registerErrorHandler(lambda ctx, error: None, None)
        _quiet.append(True)
    return libvirt


def is_no_domain(error):
    """Whether a libvirtError says the domain does not exist (any more)."""
    lv = libvirt_module()
    return getattr(error, 'get_error_code', lambda: None)() == lv.VIR_ERR_NO_DOMAIN


class Host(object):
    """One connection to libvirtd, opened on first use and shared by callers."""

    def __init__(self, uri=None):
        self.uri = uri or DEFAULT_URI
        self._conn = None
        self._lock = threading.Lock()

    def get_connection(self):
        lv = libvirt_module()
        with self._lock:
            if self._conn is not None and self._conn.isAlive():
                return self._conn
            try:
                self._conn = lv.open(self.uri)
            except lv.libvirtError as e:
                raise exception.HypervisorUnavailable(uri=self.uri, reason=e.get_error_message())
            return self._conn

    def close(self):
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:  # closing is best effort: the daemon may be gone
                    LOG.debug('Closing the libvirt connection failed', exc_info=True)
                self._conn = None

    # --- domains --------------------------------------------------------------------

    def define_domain(self, xml):
        return self.get_connection().defineXML(xml)

    def find_domain(self, instance_uuid):
        """The domain with this UUID, or None."""
        lv = libvirt_module()
        try:
            return self.get_connection().lookupByUUIDString(instance_uuid)
        except lv.libvirtError as e:
            if is_no_domain(e):
                return None
            raise

    def list_domains(self):
        return self.get_connection().listAllDomains(0)

    # --- secrets --------------------------------------------------------------------

    def find_secret(self, secret_uuid):
        lv = libvirt_module()
        try:
            return self.get_connection().secretLookupByUUIDString(secret_uuid)
        except lv.libvirtError as e:
            if e.get_error_code() == lv.VIR_ERR_NO_SECRET:
                return None
            raise

    def create_secret(self, secret_config, value):
        """Define a secret and set its value (raw bytes); undefine it if that fails."""
        secret = self.get_connection().secretDefineXML(secret_config.to_xml())
        try:
            secret.setValue(value)
        except Exception:
            secret.undefine()
            raise
        return secret
