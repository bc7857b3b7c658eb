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

"""The facts the options' help texts state, checked against the code.

Each test quotes the help text it checks, so a change of behaviour that
makes the help wrong fails here (and the other way round).
"""

import dataclasses
import importlib
import os
import re
from unittest import mock

import fixtures

import glanceclient.exc

import nova
import nova.conf
from nova import context
from nova import exception
from nova.image import glance
from nova import test
from nova.virt.libvirt import image_copy
from nova.virt.libvirt import rbd_glance

CONF = nova.conf.CONF


def help_of(group, name):
    return ' '.join(CONF._get_opt_info(name, group)['opt'].help.split())


class PollIntervalHelpTestCase(test.NoDBTestCase):

    def setUp(self):
        super().setUp()
        self.help = help_of('libvirt', 'images_rbd_glance_copy_poll_interval')

    def state(self, watch_pool, idle_polls):
        state = image_copy.new_wait_state('site_a', 1000.0, 600, 2,
                                          max_interval=15,
                                          watch_pool=watch_pool)
        return dataclasses.replace(state, polls_without_change=idle_polls)

    def test_first_read_half_a_second_after_the_request(self):
        self.assertIn('Nova reads it 0.5 s after asking for the copy',
                      self.help)
        state = self.state(True, 0)
        step = image_copy.decide(
            state, image_copy.ImageView(
                image_id='i', status='active', disk_format='raw', size=1,
                stores=frozenset(['central']), importing=frozenset(),
                failed=frozenset(), task_id=''), 1000.0)
        self.assertEqual(image_copy.Action.REQUEST_COPY, step.action)
        self.assertEqual(0.5, step.delay)

    def test_gaps_grow_by_half_up_to_the_option(self):
        self.assertIn('again after 1 s (0.25 s when the store\'s pool cannot '
                      'be watched), each gap half as long again as the one '
                      'before, up to this value', self.help)
        self.assertEqual(
            [1.0, 1.5, 2.25],
            [image_copy.poll_delay(self.state(True, n)) for n in range(3)])
        self.assertEqual(0.25, image_copy.poll_delay(self.state(False, 0)))
        self.assertEqual(15.0, image_copy.poll_delay(self.state(True, 20)))


class CopyTimeoutHelpTestCase(test.NoDBTestCase):

    def test_one_deadline_from_when_the_boot_asks(self):
        text = help_of('libvirt', 'images_rbd_glance_copy_timeout')
        self.assertIn('counted from when the boot asks for the image', text)
        self.assertIn("waiting behind another boot of the image on this "
                      "host (Nova's per-image lock)", text)
        self.flags(images_rbd_glance_copy_timeout=90, group='libvirt')
        copier = rbd_glance.GlanceCopy(mock.Mock(), mock.Mock(),
                                       clock=lambda: 5000.0, sleep=None)
        self.assertEqual(5090.0, copier.new_deadline())


class StallTimeoutHelpTestCase(test.NoDBTestCase):

    def test_glances_lock_lifetimes(self):
        text = help_of('libvirt', 'images_rbd_glance_copy_stall_timeout')
        self.assertIn("held for an hour after the task's last update (two "
                      "hours while it is ``pending``)", text)
        self.assertEqual({'processing': 3600, 'pending': 7200},
                         image_copy.GLANCE_LOCK_TTL)


class NumRetriesHelpTestCase(test.NoDBTestCase):
    """[glance] num_retries: what Nova's GlanceClientWrapper retries."""

    def setUp(self):
        super().setUp()
        self.text = help_of('glance', 'num_retries')
        self.flags(num_retries=2, group='glance')
        self.useFixture(fixtures.MockPatch('time.sleep'))
        self.client = mock.Mock()
        wrapper = glance.GlanceClientWrapper(
            context=context.RequestContext('u', 'p'),
            endpoint='http://127.0.0.1:9292')
        wrapper.client = self.client
        self.wrapper = wrapper

    def attempts(self, exc, raised=None):
        self.client.images.get.reset_mock()
        self.client.images.get.side_effect = exc
        self.assertRaises(raised or type(exc), self.wrapper.call,
                          context.RequestContext('u', 'p'), 2, 'get',
                          args=('image',))
        return self.client.images.get.call_count

    def test_503_and_connection_failures_are_retried(self):
        self.assertIn('failed to connect or got HTTP 503', self.text)
        # Nova's wrapper turns the last one into GlanceConnectionFailed.
        for exc in (glanceclient.exc.HTTPServiceUnavailable(),
                    glanceclient.exc.CommunicationError()):
            self.assertEqual(3, self.attempts(
                exc, exception.GlanceConnectionFailed))

    def test_other_5xx_are_not(self):
        self.assertIn('Other 5xx answers are not retried here', self.text)
        self.assertEqual(1, self.attempts(
            glanceclient.exc.HTTPInternalServerError()))
        self.assertEqual(1, self.attempts(
            glanceclient.exc.HTTPBadGateway()))


    def test_staging_allowance(self):
        text = help_of('libvirt', 'images_rbd_glance_copy_stall_timeout')
        self.assertIn('takes at 10 MiB/s on top of this '
                      '(102 seconds for 1 GiB)', text)
        state = image_copy.new_wait_state('site_a', 0.0, 600, 2,
                                          stall_timeout=120)
        view = image_copy.ImageView.from_image(
            {'id': 'img', 'status': 'active', 'size': 1 << 30})
        staging = image_copy.TaskView('t', 'processing', '')
        self.assertEqual(
            120 + 102.4, image_copy.stall_bound(state, view, staging))


class GuideNumbersTestCase(test.NoDBTestCase):
    """The admin guide's table "Where the numbers come from"."""

    ROW = re.compile(r'^   \* - ([0-9.]+) [^\n]*\n     - ``([\w.]+)'
                     r'(?:\[\'(\w+)\'\])?``$', re.M)

    def rows(self):
        path = os.path.join(os.path.dirname(nova.__file__), '..', 'doc',
                            'source', 'admin', 'rbd-glance-multistore.rst')
        if not os.path.exists(path):
            self.skipTest('the admin guide is not in this tree')
        with open(path) as f:
            return self.ROW.findall(f.read())

    def test_every_number_is_the_constants(self):
        rows = self.rows()
        self.assertGreaterEqual(len(rows), 11)
        for number, name, key in rows:
            module, constant = name.rsplit('.', 1)
            value = getattr(importlib.import_module(module), constant)
            if key:
                value = value[key]
            self.assertEqual(float(number), float(value), name)
