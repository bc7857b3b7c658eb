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

"""A copy that is still staging is not a dead copy.

Glance's copy-image first copies the whole image into its staging area and
updates the import task only once it writes into the store (the message
"Copied N MiB", every minute). A large image's staging can outlast the stall
timeout; the task must not be taken for dead meanwhile.
"""

import datetime

from nova import test
from nova.virt.libvirt import image_copy as ic

GiB = 1024 ** 3
UPDATED = datetime.datetime(2026, 1, 1, 0, 0, 0)
ORIGINS = (0.0, 1e6, 1.7e9)


def holder(age, message=''):
    return ic.TaskView('t-1', 'processing', message, updated_at=UPDATED,
                       age=age)


def view(size):
    return ic.ImageView.from_image(
        {'id': 'img-1', 'status': 'active', 'disk_format': 'raw',
         'size': size, 'stores': 'central',
         'properties': {'os_glance_import_task': 't-1',
                        'os_glance_importing_to_stores': 'site_a'}})


def watched(t0, v, task):
    s = ic.new_wait_state('site_a', t0, 3600, 2, stall_timeout=120)
    return ic.task_checked(ic.observe(s, v, t0, task), t0)


class TestStallBound(test.NoDBTestCase):

    def test_staging_task_gets_the_image_s_staging_time(self):
        s = ic.new_wait_state('site_a', 0.0, 600, 2, stall_timeout=120)
        bound = ic.stall_bound(s, view(10 * GiB), holder(0))
        self.assertAlmostEqual(120 + 10 * GiB / ic.STAGING_RATE_FLOOR, bound)
        # 10 GiB at 10 MiB/s: 1024 s more.
        self.assertAlmostEqual(1144.0, bound)

    def test_writing_or_pending_task_gets_the_stall_timeout(self):
        s = ic.new_wait_state('site_a', 0.0, 600, 2, stall_timeout=120)
        v = view(10 * GiB)
        self.assertEqual(120, ic.stall_bound(s, v, holder(0, 'Copied 1 MiB')))
        pending = ic.TaskView('t-1', 'pending', '', updated_at=UPDATED,
                              age=0)
        self.assertEqual(120, ic.stall_bound(s, v, pending))

    def test_image_seen_in_the_pool_ends_staging(self):
        # Glance creates the pool image when it starts writing and first
        # updates the task up to a minute later.
        s = ic.new_wait_state('site_a', 0.0, 600, 2, stall_timeout=120,
                              watch_pool=True)
        s = ic.observe_pool(s, ic.PoolView(exists=True, written_bytes=0,
                                           complete=False), 1.0)
        self.assertEqual(120, ic.stall_bound(s, view(10 * GiB), holder(0)))


class TestStagingIsNotDead(test.NoDBTestCase):

    def test_large_image_staging_past_the_stall_timeout_waits(self):
        for t0 in ORIGINS:
            v = view(10 * GiB)
            s = watched(t0, v, holder(300))
            step = ic.decide(s, v, t0 + 20)
            self.assertEqual(ic.Action.WAIT, step.action, t0)
            self.assertIsNone(ic.dead_task(s, v, t0 + 20))

    def test_staging_that_outlasts_its_allowance_is_dead(self):
        for t0 in ORIGINS:
            v = view(GiB)
            # 120 s + 1 GiB at 10 MiB/s (102.4 s), read at age 230.
            s = watched(t0, v, holder(230))
            step = ic.decide(s, v, t0 + ic.QUIET_CONFIRM)
            self.assertEqual(ic.Action.FAIL, step.action, t0)
            self.assertIsInstance(step.error, ic.ImageCopyStalled)

    def test_wait_wakes_when_the_staging_allowance_ends(self):
        for t0 in ORIGINS:
            v = view(GiB)
            s = watched(t0, v, holder(200))
            # Dead at age 222.4: 22.4 s after the read.
            self.assertAlmostEqual(22.4, ic._until_dead(s, v, t0),
                                   delta=0.05)

    def test_same_age_while_writing_is_dead(self):
        for t0 in ORIGINS:
            v = view(10 * GiB)
            s = watched(t0, v, holder(300, 'Copied 4096 MiB'))
            step = ic.decide(s, v, t0 + ic.QUIET_CONFIRM)
            self.assertEqual(ic.Action.FAIL, step.action, t0)
