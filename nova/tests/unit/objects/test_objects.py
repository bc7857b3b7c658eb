"""The Instance and ImageMeta values of the driver slice."""

import testtools

from nova import objects


class TestInstance(testtools.TestCase):

    def test_new_names_the_domain_from_the_template(self):
        inst = objects.Instance.new('stk-%(host)s-%(uuid)s', image_ref='img', root_gb=2,
                                    host='compute-a')
        self.assertEqual('stk-compute-a-%s' % inst.uuid, inst.name)
        self.assertEqual(inst.name, inst.display_name)
        self.assertEqual((2, 64, 1), (inst.root_gb, inst.memory_mb, inst.vcpus))

    def test_uuids_differ(self):
        a, b = (objects.Instance.new('i-%(uuid)s', 'img', 1, 'h') for _ in range(2))
        self.assertNotEqual(a.uuid, b.uuid)


class TestImageMeta(testtools.TestCase):

    def test_from_glance_dict(self):
        meta = objects.ImageMeta.from_dict({
            'id': 'img', 'name': 'n', 'disk_format': 'raw', 'size': 8,
            'status': 'active', 'stores': 'central,site_a', 'min_disk': None,
            'os_glance_importing_to_stores': ''})
        self.assertEqual(('img', 'raw', 8, 'active', 0, ('central', 'site_a')),
                         (meta.id, meta.disk_format, meta.size, meta.status,
                          meta.min_disk, meta.stores))

    def test_no_stores(self):
        self.assertEqual((), objects.ImageMeta.from_dict({'id': 'img'}).stores)
