# Copyright 2026 The nova-rbd-multistore authors
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

import os

import fixtures
from oslo_config import cfg
from oslo_config import fixture as config_fixture

import nova.conf
from nova.conf import glance
from nova.conf import libvirt
from nova.conf import opts
from nova.conf import rbd_glance_copy
from nova import test


class RbdGlanceCopyOptsTestCase(test.NoDBTestCase):
    """The options registered on Nova's global CONF."""

    def test_defaults(self):
        conf = nova.conf.CONF
        self.assertEqual(2, conf.libvirt.images_rbd_glance_copy_retries)
        self.assertEqual(120,
                         conf.libvirt.images_rbd_glance_copy_stall_timeout)
        self.assertEqual('auto', conf.glance.copy_credentials)

    def test_upstream_options_are_not_redefined(self):
        names = {opt.name
                 for group_opts in rbd_glance_copy.list_opts().values()
                 for opt in group_opts}
        self.assertEqual({'images_rbd_glance_copy_retries',
                          'images_rbd_glance_copy_stall_timeout',
                          'copy_credentials'}, names)
        # The options the feature shares with upstream still come from their
        # own modules, with their own defaults.
        conf = nova.conf.CONF
        self.assertEqual('', conf.libvirt.images_rbd_glance_store_name)
        self.assertEqual(15, conf.libvirt.images_rbd_glance_copy_poll_interval)
        self.assertEqual(600, conf.libvirt.images_rbd_glance_copy_timeout)
        self.assertFalse(conf.workarounds.never_download_image_if_on_rbd)

    def test_valid_values(self):
        self.flags(images_rbd_glance_copy_retries=0,
                   images_rbd_glance_copy_stall_timeout=90, group='libvirt')
        self.assertEqual(
            0, nova.conf.CONF.libvirt.images_rbd_glance_copy_retries)
        for value in ('auto', 'user', 'service'):
            self.flags(copy_credentials=value, group='glance')
            self.assertEqual(value, nova.conf.CONF.glance.copy_credentials)


class RbdGlanceCopyBadValuesTestCase(test.NoDBTestCase):
    """Bad values fail when the config is loaded, naming the option."""

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(
            config_fixture.Config(cfg.ConfigOpts())).conf
        # Only this module's options: upstream's modules register their own
        # on Nova's global CONF (and cannot be registered twice).
        rbd_glance_copy.register_opts(self.conf)
        self.conf([], project='nova')

    def test_refused_at_override(self):
        for group, name, value in (
                ('libvirt', 'images_rbd_glance_copy_retries', -1),
                ('libvirt', 'images_rbd_glance_copy_stall_timeout', 0),
                # A running Glance task is updated every 60 s.
                ('libvirt', 'images_rbd_glance_copy_stall_timeout', 89),
                ('glance', 'copy_credentials', 'admin')):
            self.assertRaises(ValueError, self.conf.set_override,
                              name, value, group=group)

    def test_refused_from_config_file(self):
        for group, name, value in (
                ('libvirt', 'images_rbd_glance_copy_retries', '-1'),
                ('libvirt', 'images_rbd_glance_copy_stall_timeout', '89'),
                ('glance', 'copy_credentials', 'admin')):
            path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                'nova.conf')
            with open(path, 'w') as f:
                f.write('[%s]\n%s = %s\n' % (group, name, value))
            conf = cfg.ConfigOpts()
            rbd_glance_copy.register_opts(conf)
            conf(['--config-file', path], project='nova')
            ex = self.assertRaises(cfg.ConfigFileValueError,
                                   getattr, getattr(conf, group), name)
            self.assertIn(name, str(ex))


class RbdGlanceCopyListOptsTestCase(test.NoDBTestCase):
    """The options reach the sample config and docs under their groups."""

    def test_list_opts_groups(self):
        listed = rbd_glance_copy.list_opts()
        self.assertEqual({'libvirt', 'glance'},
                         {group.name for group in listed})
        self.assertIs(libvirt.libvirt_group,
                      [g for g in listed if g.name == 'libvirt'][0])
        self.assertIs(glance.glance_group,
                      [g for g in listed if g.name == 'glance'][0])

    def test_merged_into_upstream_sections(self):
        sections = {}
        for group, group_opts in opts.list_opts():
            name = getattr(group, 'name', group)
            sections.setdefault(name, []).append(
                {opt.name for opt in group_opts})
        # One [libvirt] and one [glance] section, each holding ours too.
        self.assertEqual(1, len(sections['libvirt']))
        self.assertEqual(1, len(sections['glance']))
        self.assertIn('images_rbd_glance_copy_retries', sections['libvirt'][0])
        self.assertIn('images_rbd_glance_copy_stall_timeout',
                      sections['libvirt'][0])
        self.assertIn('images_rbd_glance_store_name', sections['libvirt'][0])
        self.assertIn('copy_credentials', sections['glance'][0])
