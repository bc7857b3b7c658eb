"""Guest configuration objects rendered to libvirt XML.

Each object holds plain attributes and builds its element in ``format_dom()``;
``to_xml()`` gives the text libvirt takes. Only what this driver slice defines is here:
the domain, its RBD network disk, a serial console logged to a file, the ceph secret and
the metadata that lets ``nova-rbd-boot`` find its instances again.
"""

from xml.etree import ElementTree as etree

# Our instance metadata lives in this namespace inside <metadata>; libvirt keys
# domain metadata by namespace URI, so the URI identifies "ours".
NOVA_NS = 'http://openstack.org/xmlns/libvirt/nova-rbd-multistore/1.0'
NOVA_PREFIX = 'nova'


def _sub(parent, tag, text=None, **attrs):
    """Add a child element; attributes whose value is None are left out."""
    elem = etree.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()
                                          if v is not None})
    if text is not None:
        elem.text = str(text)
    return elem


class LibvirtConfigObject(object):
    root_name = None

    def format_dom(self):
        return etree.Element(self.root_name)

    def to_xml(self):
        elem = self.format_dom()
        etree.indent(elem)
        return etree.tostring(elem, encoding='unicode')


class LibvirtConfigGuestDisk(LibvirtConfigObject):
    """A ``<disk>``: a local file or a network (rbd) source."""

    root_name = 'disk'

    def __init__(self):
        self.source_type = 'file'
        self.source_device = 'disk'
        self.source_path = None
        self.source_protocol = None
        self.source_name = None
        self.source_hosts = []
        self.source_ports = []
        self.auth_username = None
        self.auth_secret_type = None
        self.auth_secret_uuid = None
        self.driver_name = None
        self.driver_format = None
        self.driver_cache = None
        self.driver_discard = None
        self.target_dev = None
        self.target_bus = None
        self.boot_order = None
        self.serial = None

    def format_dom(self):
        disk = etree.Element('disk', type=self.source_type, device=self.source_device)
        if self.driver_name or self.driver_format or self.driver_cache:
            _sub(disk, 'driver', name=self.driver_name, type=self.driver_format,
                 cache=self.driver_cache, discard=self.driver_discard)
        if self.source_type == 'network':
            source = _sub(disk, 'source', protocol=self.source_protocol,
                          name=self.source_name)
            ports = list(self.source_ports or [])
            for i, host in enumerate(self.source_hosts or []):
                port = ports[i] if i < len(ports) else None
                _sub(source, 'host', name=host, port=port)
        elif self.source_path:
            _sub(disk, 'source', file=self.source_path)
        if self.auth_username:
            auth = _sub(disk, 'auth', username=self.auth_username)
            if self.auth_secret_uuid:
                _sub(auth, 'secret', type=self.auth_secret_type,
                     uuid=self.auth_secret_uuid)
        _sub(disk, 'target', dev=self.target_dev, bus=self.target_bus)
        if self.serial:
            _sub(disk, 'serial', self.serial)
        if self.boot_order is not None:
            _sub(disk, 'boot', order=self.boot_order)
        return disk


class LibvirtConfigGuestSerial(LibvirtConfigObject):
    """A serial port; with ``log_file`` virtlogd copies its output there."""

    root_name = 'serial'

    def __init__(self, type='pty', log_file=None, target_port=0):
        self.type = type
        self.log_file = log_file
        self.target_port = target_port

    def format_dom(self):
        serial = etree.Element('serial', type=self.type)
        if self.log_file:
            # append='off': one boot, one log; a reused path never mixes two guests.
            _sub(serial, 'log', file=self.log_file, append='off')
        _sub(serial, 'target', port=self.target_port)
        return serial


class LibvirtConfigGuestMetaNovaInstance(LibvirtConfigObject):
    """What ``nova-rbd-boot list`` reads back from a domain: whose it is and what."""

    root_name = 'instance'
    FIELDS = ('host', 'instances_path', 'display_name', 'image_ref', 'root_gb',
              'memory_mb', 'vcpus', 'created')

    def __init__(self, **fields):
        for name in self.FIELDS:
            setattr(self, name, fields.get(name))

    def format_dom(self):
        etree.register_namespace(NOVA_PREFIX, NOVA_NS)
        root = etree.Element('{%s}instance' % NOVA_NS)
        for name in self.FIELDS:
            value = getattr(self, name)
            if value is not None:
                _sub(root, '{%s}%s' % (NOVA_NS, name), value)
        return root

    @classmethod
    def parse_str(cls, xml):
        root = etree.fromstring(xml)
        fields = {}
        for child in root:
            name = child.tag.split('}', 1)[-1]
            if name in cls.FIELDS:
                fields[name] = child.text
        for name in ('root_gb', 'memory_mb', 'vcpus'):
            if fields.get(name) is not None:
                fields[name] = int(fields[name])
        return cls(**fields)


class LibvirtConfigGuest(LibvirtConfigObject):
    """A ``<domain>``."""

    root_name = 'domain'

    def __init__(self):
        self.virt_type = None
        self.name = None
        self.uuid = None
        self.memory = 64 * 1024  # KiB, like libvirt
        self.vcpus = 1
        self.os_type = 'hvm'
        self.os_arch = None
        self.os_machine = None
        self.os_boot_dev = []
        self.on_poweroff = 'destroy'
        self.on_reboot = 'restart'
        self.on_crash = 'destroy'
        self.metadata = []
        self.devices = []

    def add_device(self, device):
        self.devices.append(device)

    def format_dom(self):
        domain = etree.Element('domain', type=self.virt_type)
        _sub(domain, 'name', self.name)
        _sub(domain, 'uuid', self.uuid)
        if self.metadata:
            meta = _sub(domain, 'metadata')
            for item in self.metadata:
                meta.append(item.format_dom())
        _sub(domain, 'memory', self.memory, unit='KiB')
        _sub(domain, 'vcpu', self.vcpus)
        os_elem = _sub(domain, 'os')
        _sub(os_elem, 'type', self.os_type, arch=self.os_arch, machine=self.os_machine)
        for dev in self.os_boot_dev:
            _sub(os_elem, 'boot', dev=dev)
        _sub(domain, 'clock', offset='utc')
        _sub(domain, 'on_poweroff', self.on_poweroff)
        _sub(domain, 'on_reboot', self.on_reboot)
        _sub(domain, 'on_crash', self.on_crash)
        devices = _sub(domain, 'devices')
        for device in self.devices:
            devices.append(device.format_dom())
        # No balloon: nothing here would drive it, and it is one device less to emulate.
        _sub(devices, 'memballoon', model='none')
        return domain


class LibvirtConfigSecret(LibvirtConfigObject):
    """A libvirt secret; its value is set separately and never rendered here."""

    root_name = 'secret'

    def __init__(self, uuid=None, usage_type='ceph', usage_id=None, description=None):
        self.uuid = uuid
        self.usage_type = usage_type
        self.usage_id = usage_id
        self.description = description

    def format_dom(self):
        # private='yes': libvirt never gives the key back through its API.
        secret = etree.Element('secret', ephemeral='no', private='yes')
        if self.description:
            _sub(secret, 'description', self.description)
        if self.uuid:
            _sub(secret, 'uuid', self.uuid)
        usage = _sub(secret, 'usage', type=self.usage_type)
        _sub(usage, 'name', self.usage_id)
        return secret
