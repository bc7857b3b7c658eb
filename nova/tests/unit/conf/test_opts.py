"""Our options: registered once, listed for the generator, bad values refused at start."""

import os
import tempfile

from oslo_config import cfg
import testtools

from nova.conf import glance
from nova.conf import libvirt
from nova.conf import opts
from nova.conf import workarounds


def load(text):
    conf = cfg.ConfigOpts()
    for module in (glance, libvirt, workarounds):
        module.register_opts(conf)
    fd, path = tempfile.mkstemp(suffix='.conf')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    try:
        conf([], default_config_files=[path])
        # Values are parsed when read: touch every option like a service start does.
        for group in ('libvirt', 'glance', 'workarounds'):
            for name in conf[group]:
                conf[group][name]
    finally:
        os.unlink(path)
    return conf


class TestOpts(testtools.TestCase):

    def test_generator_lists_every_group(self):
        groups = {getattr(group, 'name', group): [o.name for o in options]
                  for group, options in opts.list_opts()}
        self.assertIn('images_rbd_glance_store_name', groups['libvirt'])
        self.assertIn('images_rbd_glance_copy_retries', groups['libvirt'])
        self.assertIn('never_download_image_if_on_rbd', groups['workarounds'])
        self.assertIn('copy_credentials', groups['glance'])
        self.assertIn('num_retries', groups['glance'])

    def test_defaults(self):
        conf = load('')
        self.assertEqual(15, conf.libvirt.images_rbd_glance_copy_poll_interval)
        self.assertEqual(600, conf.libvirt.images_rbd_glance_copy_timeout)
        self.assertEqual('', conf.libvirt.images_rbd_glance_store_name)
        self.assertEqual('auto', conf.glance.copy_credentials)
        self.assertEqual('image', conf.glance.service_type)

    def test_bad_values_are_refused_with_the_option_name(self):
        for text, name in (
                ('[libvirt]\nimages_rbd_glance_copy_poll_interval = 0\n',
                 'images_rbd_glance_copy_poll_interval'),
                ('[libvirt]\nimages_rbd_glance_copy_timeout = -5\n',
                 'images_rbd_glance_copy_timeout'),
                ('[libvirt]\nimages_rbd_glance_copy_retries = many\n',
                 'images_rbd_glance_copy_retries'),
                ('[libvirt]\nimages_type = zfs\n', 'images_type'),
                ('[libvirt]\nrbd_connect_timeout = 0\n', 'rbd_connect_timeout'),
                ('[glance]\ncopy_credentials = root\n', 'copy_credentials'),
                ('[glance]\nnum_retries = -1\n', 'num_retries'),
                ('[workarounds]\nnever_download_image_if_on_rbd = perhaps\n',
                 'never_download_image_if_on_rbd')):
            e = self.assertRaises((cfg.ConfigFileValueError, ValueError), load, text)
            self.assertIn(name, str(e))

    def test_two_configs_do_not_share_overrides(self):
        a, b = load(''), load('')
        a.set_override('images_rbd_glance_store_name', 'site_a', group='libvirt')
        self.assertEqual('', b.libvirt.images_rbd_glance_store_name)
