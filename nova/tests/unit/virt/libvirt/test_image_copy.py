"""Unit tests for the copy-to-store decisions: plain functions, no services."""

import collections

import testtools

from nova import exception
from nova.virt.libvirt import image_copy as ic

FSID_A = 'aaaaaaaa-0000-4000-8000-000000000001'
FSID_B = 'bbbbbbbb-0000-4000-8000-000000000002'

Loc = collections.namedtuple('Loc', 'fsid pool image snapshot')


def parse(url):
    """A strict-enough stand-in for rbd_utils.parse_location."""
    if not url.startswith('rbd://'):
        raise exception.InvalidRbdLocation(location=url, reason='not rbd')
    parts = url[len('rbd://'):].split('/')
    if len(parts) != 4 or not all(parts):
        raise exception.InvalidRbdLocation(location=url, reason='4 parts')
    return Loc(*parts)


def image(**kw):
    base = {'id': 'img-1', 'status': 'active', 'disk_format': 'raw', 'size': 64 << 20,
            'stores': 'central'}
    base.update(kw)
    return base


def view(**kw):
    return ic.ImageView.from_image(image(**kw))


def state(now=0.0, timeout=600, retries=2, **kw):
    s = ic.new_wait_state('site_a', now, timeout, retries)
    return s if not kw else ic.dataclasses.replace(s, **kw)


class TestImageView(testtools.TestCase):

    def test_split_stores(self):
        self.assertEqual(frozenset(), ic.split_stores(None))
        self.assertEqual(frozenset(), ic.split_stores(''))
        self.assertEqual({'a', 'b'}, ic.split_stores('a, b,'))
        self.assertEqual({'a'}, ic.split_stores(['a', '']))

    def test_from_image_reads_glance_import_properties(self):
        v = view(stores='central,site_b', os_glance_importing_to_stores='site_a',
                 os_glance_failed_import='', os_glance_import_task='t-1')
        self.assertEqual({'central', 'site_b'}, v.stores)
        self.assertEqual({'site_a'}, v.importing)
        self.assertEqual(frozenset(), v.failed)
        self.assertEqual('t-1', v.task_id)

    def test_absent_properties_are_empty(self):
        v = ic.ImageView.from_image({'id': 'x'})
        self.assertEqual(('', frozenset(), ''), (v.status, v.importing, v.task_id))


class TestPickLocation(testtools.TestCase):

    def test_picks_local_and_prefers_our_store(self):
        locs = [
            {'url': 'file:///var/lib/glance/x', 'metadata': {'store': 'central'}},
            {'url': 'rbd://%s/images/x/snap' % FSID_B, 'metadata': {'store': 'site_b'}},
            {'url': 'rbd://%s/other/x/snap' % FSID_A, 'metadata': {'store': 'extra'}},
            {'url': 'rbd://%s/images/x/snap' % FSID_A, 'metadata': {'store': 'site_a'}},
        ]
        loc = ic.pick_local_location(locs, FSID_A, parse, preferred_store='site_a')
        self.assertEqual(Loc(FSID_A, 'images', 'x', 'snap'), loc)

    def test_other_cluster_file_and_malformed_are_not_local(self):
        locs = [{'url': 'rbd://%s/images/x/snap' % FSID_B},
                {'url': 'file:///x'}, {'url': 'rbd://broken'}, {}]
        self.assertIsNone(ic.pick_local_location(locs, FSID_A, parse))
        self.assertIsNone(ic.pick_local_location(None, FSID_A, parse))

    def test_store_cluster_mismatch(self):
        self.assertIsNone(ic.store_cluster_mismatch('s', FSID_A, FSID_A))
        self.assertIsNone(ic.store_cluster_mismatch('s', None, FSID_A))
        self.assertIn(FSID_B, ic.store_cluster_mismatch('s', FSID_B, FSID_A))


class TestCheckBootable(testtools.TestCase):

    def test_active_raw_is_fine(self):
        ic.check_bootable(view())

    def test_queued_is_not_active(self):
        e = self.assertRaises(exception.ImageNotActive, ic.check_bootable,
                              view(status='queued'))
        self.assertIn('queued', str(e))

    def test_deleted_is_not_found(self):
        self.assertRaises(exception.ImageNotFound, ic.check_bootable,
                          view(status='deleted'))

    def test_qcow2_is_refused_with_the_fix(self):
        e = self.assertRaises(exception.ImageDiskFormatUnsupported, ic.check_bootable,
                              view(disk_format='qcow2'))
        self.assertIn('qemu-img convert', str(e))


class TestObserve(testtools.TestCase):

    def test_importing_since_is_tracked_and_dropped(self):
        s = ic.observe(state(), view(os_glance_importing_to_stores='site_a'), 1.0)
        s = ic.observe(s, view(os_glance_importing_to_stores='site_a'), 3.0)
        self.assertEqual({'site_a': 2.0}, s.importing_for(3.0))
        s = ic.observe(s, view(), 4.0)
        self.assertEqual({}, s.importing_for(4.0))

    def test_unchanged_polls_back_off_and_change_resets(self):
        s = state()
        for t in range(1, 13):
            s = ic.observe(s, view(os_glance_import_task='t'), float(t))
        self.assertEqual(15.0, ic.poll_delay(s, 15))
        self.assertEqual(1.0, ic.poll_delay(s, 1))
        self.assertEqual(1.0, s.last_change)
        # Pool progress is progress (no stall) but does not make Glance polls faster.
        s = ic.observe(s, view(os_glance_import_task='t'), 20.0, pool_signature=(1,))
        self.assertEqual(20.0, s.last_change)
        self.assertEqual(15.0, ic.poll_delay(s, 15))
        s = ic.observe(s, view(os_glance_import_task='t2'), 21.0, pool_signature=(1,))
        self.assertEqual(ic.FIRST_POLL, ic.poll_delay(s, 15))
        self.assertEqual(ic.FIRST_POLL_WATCHED, ic.poll_delay(s, 15, watching_pool=True))

    def test_a_failed_task_counts_once(self):
        failed = view(os_glance_failed_import='site_a')
        task = ic.TaskView('t-1', 'failure', 'Task failed due to Internal Error')
        s = ic.observe(state(requests=1), failed, 1.0, task)
        s = ic.observe(s, failed, 2.0, task)
        self.assertEqual({'t-1'}, s.failed_tasks)
        self.assertEqual(1.0 + ic.retry_backoff(1), s.not_before)
        self.assertIn('Internal Error', s.last_failure)
        s = ic.observe(s, failed, 9.0, ic.TaskView('t-2', 'failure', 'again'))
        self.assertEqual({'t-1', 't-2'}, s.failed_tasks)

    def test_failure_marker_without_failed_task_is_not_counted(self):
        s = ic.observe(state(), view(os_glance_failed_import='site_a'), 1.0,
                       ic.TaskView('t-3', 'processing', ''))
        self.assertEqual(frozenset(), s.failed_tasks)


class TestTaskView(testtools.TestCase):

    def test_newest_import_task(self):
        tasks = [
            {'id': 'old', 'type': 'api_image_import', 'status': 'failure',
             'created_at': '2026-01-01T00:00:00Z', 'message': 'a<br />b'},
            {'id': 'new', 'type': 'api_image_import', 'status': 'processing',
             'created_at': '2026-01-01T00:01:00Z'},
            {'id': 'other', 'type': 'import', 'created_at': '2027-01-01T00:00:00Z'},
        ]
        self.assertEqual(ic.TaskView('new', 'processing', ''), ic.TaskView.newest(tasks))
        self.assertEqual('a b', ic.TaskView.newest(tasks[:1]).message)
        self.assertIsNone(ic.TaskView.newest([]))


class TestDecide(testtools.TestCase):

    def decide(self, s, v, now=1.0, **kw):
        return ic.decide(ic.observe(s, v, now, kw.get('task')), v, now, **kw)

    def test_location_means_clone(self):
        step = self.decide(state(), view(), location=object())
        self.assertEqual(ic.Action.CLONE, step.action)

    def test_nothing_going_on_means_request(self):
        self.assertEqual(ic.Action.REQUEST_COPY, self.decide(state(), view()).action)

    def test_not_bootable_fails_at_once(self):
        step = self.decide(state(), view(disk_format='qcow2'))
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, exception.ImageDiskFormatUnsupported)

    def test_copy_running_means_wait(self):
        step = self.decide(state(), view(os_glance_importing_to_stores='site_a',
                                         os_glance_import_task='t'))
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertEqual(ic.FIRST_POLL, step.delay)

    def test_other_import_holding_the_lock_means_wait_not_fail(self):
        # Another host copies to site_b: Glance would answer 409 to a request now.
        step = self.decide(state(), view(os_glance_importing_to_stores='site_b',
                                         os_glance_import_task='t-other'))
        self.assertEqual(ic.Action.WAIT, step.action)
        self.assertIn('t-other', step.reason)

    def test_lock_released_without_our_store_means_ask_again(self):
        s = ic.observe(state(), view(os_glance_import_task='t-other'), 1.0)
        step = self.decide(s, view(stores='central,site_b'), now=2.0)
        self.assertEqual(ic.Action.REQUEST_COPY, step.action)

    def test_store_listed_without_location_yet_means_confirm_soon(self):
        step = self.decide(state(), view(stores='central,site_a'))
        self.assertEqual((ic.Action.WAIT, ic.CONFIRM_POLL), (step.action, step.delay))

    def test_store_listed_without_readable_location_fails_after_grace(self):
        v = view(stores='central,site_a')
        s = ic.observe(state(), v, 1.0)
        step = ic.decide(ic.observe(s, v, 1.0 + ic.LOCATION_GRACE), v,
                         1.0 + ic.LOCATION_GRACE)
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, exception.ImageNotCloneable)
        self.assertIn('locations API', str(step.error))

    def test_recent_request_not_yet_visible_means_wait(self):
        s = state(requested_at=0.5, requests=1)
        self.assertEqual(ic.Action.WAIT, self.decide(s, view(), now=1.0).action)
        self.assertEqual(ic.Action.REQUEST_COPY,
                         self.decide(s, view(), now=0.5 + ic.ACCEPT_GRACE).action)

    def test_failure_retries_after_backoff_then_gives_up(self):
        failed = view(os_glance_failed_import='site_a')
        s = state(retries=1, requests=1)
        s = ic.observe(s, failed, 1.0, ic.TaskView('t1', 'failure', 'boom'))
        self.assertEqual(ic.Action.WAIT, ic.decide(s, failed, 1.5).action)
        self.assertEqual(ic.Action.REQUEST_COPY, ic.decide(s, failed, 3.0).action)
        # Glance accepted the retry but has not cleared the marker yet.
        step = ic.decide(s, failed, 3.1, task=ic.TaskView('t2', 'pending', ''))
        self.assertEqual(ic.Action.WAIT, step.action)
        s = ic.observe(s, failed, 5.0, ic.TaskView('t2', 'failure', 'boom again'))
        step = ic.decide(s, failed, 5.0)
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, exception.ImageCopyFailed)
        msg = str(step.error)
        self.assertIn('2 time(s)', msg)
        self.assertIn('t2: boom again', msg)
        self.assertIn('Glance API log', msg)

    def test_zero_retries_fails_on_first_failure(self):
        failed = view(os_glance_failed_import='site_a')
        s = ic.observe(state(retries=0, requests=1), failed, 1.0,
                       ic.TaskView('t1', 'failure', 'x'))
        self.assertEqual(ic.Action.FAIL, ic.decide(s, failed, 1.0).action)

    def test_failure_from_before_our_request_means_ask_not_fail(self):
        # The store was repaired since; the marker is an earlier attempt's.
        failed = view(os_glance_failed_import='site_a')
        s = ic.observe(state(retries=0), failed, 1.0, ic.TaskView('old', 'failure', 'x'))
        self.assertEqual(frozenset(), s.failed_tasks)
        step = ic.decide(s, failed, 1.0)
        self.assertEqual(ic.Action.REQUEST_COPY, step.action)
        self.assertIn('earlier copy', step.reason)
        locked = view(os_glance_failed_import='site_a', os_glance_import_task='t')
        self.assertEqual(ic.Action.WAIT, ic.decide(s, locked, 1.0).action)

    def test_our_request_makes_the_next_poll_quick(self):
        s = state()
        for t in range(1, 6):
            s = ic.observe(s, view(), float(t))
        self.assertGreater(ic.poll_delay(s, 15), ic.FIRST_POLL)
        s = ic.requested(s, 6.0)
        self.assertEqual((6.0, 1), (s.requested_at, s.requests))
        self.assertEqual(ic.FIRST_POLL, ic.poll_delay(s, 15))

    def test_timeout_names_importing_stores_and_task(self):
        v = view(os_glance_importing_to_stores='site_a', os_glance_import_task='t9')
        s = ic.observe(state(timeout=10), v, 2.0)
        s = ic.dataclasses.replace(s, requests=1)
        step = ic.decide(ic.observe(s, v, 10.0), v, 10.0)
        self.assertEqual(ic.Action.FAIL, step.action)
        self.assertIsInstance(step.error, exception.ImageCopyTimeout)
        msg = str(step.error)
        self.assertIn('store site_a importing for 8 s', msg)
        self.assertIn('t9', msg)
        self.assertIn('images_rbd_glance_copy_timeout', msg)
        self.assertIn('asked Glance to copy 1 time(s)', msg)
