"""The guest XML this driver hands to libvirt."""

from xml.etree import ElementTree as etree

import testtools

from nova.virt.libvirt import config as vconfig


def rbd_disk():
    disk = vconfig.LibvirtConfigGuestDisk()
    disk.source_type = 'network'
    disk.source_protocol = 'rbd'
    disk.source_name = 'vms/u1_disk'
    disk.source_hosts = ['127.0.0.1', '::1']
    disk.source_ports = ['6789', '6790']
    disk.auth_username = 'nova'
    disk.auth_secret_type = 'ceph'
    disk.auth_secret_uuid = 'a1b2'
    disk.driver_name = 'qemu'
    disk.driver_format = 'raw'
    disk.driver_cache = 'writeback'
    disk.driver_discard = 'unmap'
    disk.target_dev = 'vda'
    disk.target_bus = 'virtio'
    return disk


class TestDisk(testtools.TestCase):

    def test_rbd_network_disk(self):
        root = etree.fromstring(rbd_disk().to_xml())
        self.assertEqual({'type': 'network', 'device': 'disk'}, root.attrib)
        self.assertEqual({'name': 'qemu', 'type': 'raw', 'cache': 'writeback',
                          'discard': 'unmap'}, root.find('driver').attrib)
        source = root.find('source')
        self.assertEqual({'protocol': 'rbd', 'name': 'vms/u1_disk'}, source.attrib)
        self.assertEqual([{'name': '127.0.0.1', 'port': '6789'},
                          {'name': '::1', 'port': '6790'}],
                         [h.attrib for h in source.findall('host')])
        self.assertEqual('nova', root.find('auth').get('username'))
        self.assertEqual({'type': 'ceph', 'uuid': 'a1b2'},
                         root.find('auth/secret').attrib)
        self.assertEqual({'dev': 'vda', 'bus': 'virtio'}, root.find('target').attrib)
        self.assertIsNone(root.find('boot'))

    def test_no_auth_without_user_and_boot_order(self):
        disk = rbd_disk()
        disk.auth_username = None
        disk.boot_order = 1
        root = etree.fromstring(disk.to_xml())
        self.assertIsNone(root.find('auth'))
        self.assertEqual('1', root.find('boot').get('order'))

    def test_host_without_port(self):
        disk = rbd_disk()
        disk.source_ports = []
        root = etree.fromstring(disk.to_xml())
        self.assertEqual({'name': '127.0.0.1'}, root.find('source/host').attrib)

    def test_file_disk(self):
        disk = vconfig.LibvirtConfigGuestDisk()
        disk.source_path = '/x/disk'
        disk.target_dev = 'vda'
        root = etree.fromstring(disk.to_xml())
        self.assertEqual('file', root.get('type'))
        self.assertEqual('/x/disk', root.find('source').get('file'))


class TestGuest(testtools.TestCase):

    def guest(self):
        guest = vconfig.LibvirtConfigGuest()
        guest.virt_type = 'qemu'
        guest.name = 'stk-u1'
        guest.uuid = 'u1'
        guest.memory = 65536
        guest.vcpus = 2
        guest.os_arch = 'x86_64'
        guest.os_boot_dev = ['hd']
        guest.metadata.append(vconfig.LibvirtConfigGuestMetaNovaInstance(
            host='compute-a', instances_path='/i', display_name='web', image_ref='img',
            root_gb=1, memory_mb=64, vcpus=2, created='2024-01-01T00:00:00+00:00'))
        guest.add_device(rbd_disk())
        guest.add_device(vconfig.LibvirtConfigGuestSerial(log_file='/i/u1/console.log'))
        return guest

    def test_domain(self):
        root = etree.fromstring(self.guest().to_xml())
        self.assertEqual('qemu', root.get('type'))
        self.assertEqual('stk-u1', root.findtext('name'))
        self.assertEqual('u1', root.findtext('uuid'))
        self.assertEqual('65536', root.findtext('memory'))
        self.assertEqual('KiB', root.find('memory').get('unit'))
        self.assertEqual('2', root.findtext('vcpu'))
        self.assertEqual({'arch': 'x86_64'}, root.find('os/type').attrib)
        self.assertEqual('hvm', root.findtext('os/type'))
        self.assertEqual('hd', root.find('os/boot').get('dev'))
        self.assertEqual('network', root.find('devices/disk').get('type'))
        serial = root.find('devices/serial')
        self.assertEqual('pty', serial.get('type'))
        self.assertEqual({'file': '/i/u1/console.log', 'append': 'off'},
                         serial.find('log').attrib)
        self.assertEqual('0', serial.find('target').get('port'))
        self.assertEqual('none', root.find('devices/memballoon').get('model'))

    def test_metadata_round_trip(self):
        root = etree.fromstring(self.guest().to_xml())
        meta = root.find('metadata/{%s}instance' % vconfig.NOVA_NS)
        self.assertIsNotNone(meta)
        parsed = vconfig.LibvirtConfigGuestMetaNovaInstance.parse_str(
            etree.tostring(meta, encoding='unicode'))
        self.assertEqual(('compute-a', '/i', 'web', 'img', 1, 64, 2),
                         (parsed.host, parsed.instances_path, parsed.display_name,
                          parsed.image_ref, parsed.root_gb, parsed.memory_mb,
                          parsed.vcpus))

    def test_metadata_parse_ignores_unknown_fields(self):
        xml = ('<i:instance xmlns:i="%s"><i:host>h</i:host><i:other>x</i:other>'
               '</i:instance>' % vconfig.NOVA_NS)
        parsed = vconfig.LibvirtConfigGuestMetaNovaInstance.parse_str(xml)
        self.assertEqual('h', parsed.host)
        self.assertIsNone(parsed.root_gb)


class TestSecret(testtools.TestCase):

    def test_ceph_secret_is_private(self):
        secret = vconfig.LibvirtConfigSecret(uuid='s1', usage_id='stk client.nova s1',
                                             description='d')
        root = etree.fromstring(secret.to_xml())
        self.assertEqual({'ephemeral': 'no', 'private': 'yes'}, root.attrib)
        self.assertEqual('s1', root.findtext('uuid'))
        self.assertEqual('ceph', root.find('usage').get('type'))
        self.assertEqual('stk client.nova s1', root.findtext('usage/name'))
        self.assertEqual('d', root.findtext('description'))
