# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""nova.image.glance.API's multi-store calls against real Keystone and Glance 33.

``image_import``, ``get_image_locations``, ``get_image_tasks`` and
``get_store_detail`` with CONF parsed from a compute host's nova.conf (Glance at
``[glance] endpoint_override``, Nova's service user in ``[service_user]``) and
contexts built from real Keystone tokens. Glance runs its default policy.
"""

import time

from nova import exception
from nova.image import glance
from nova.image import glance_multistore
from nova.tests.live import base

MIB = base.MIB
WAIT = 60
MISSING = '00000000-0000-4000-8000-000000000000'


class GlanceApiTest(base.LiveTestCase):

    def setUp(self):
        super().setUp()
        self.admin = self.stack.context('admin')
        self.demo = self.stack.context('demo')
        self.api = glance.API()

    def use(self, copy_credentials='auto', **glance_opts):
        self.use_compute('compute-a',
                         glance=dict(glance_opts, copy_credentials=copy_credentials))

    def use_user_token_alone(self):
        """The user's token without Nova's service token: the stack's Glance
        policy (the admin guide's) lets a user's request that carries Nova's
        service token copy and read locations, not the user alone.
        """
        self.use_compute('compute-a', glance={'copy_credentials': 'user'},
                         service_user={'send_service_user_token': False})

    def wait_copied(self, image_id, store):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            image = self.admin_glance.images.get(image_id)
            if (store in (image.get('stores') or '').split(',')
                    and not image.get('os_glance_import_task')):
                return image
            time.sleep(0.05)
        self.fail('image %s not copied to %s within %d s' % (image_id, store, WAIT))

    # --- image_import -------------------------------------------------------------

    def test_copy_is_seen_in_nova_image_and_tasks(self):
        self.use(copy_credentials='user')
        image_id, _data = self.upload(size=16 * MIB)
        self.assertEqual({'central'}, self.stores(image_id))

        self.assertIsNone(self.api.image_import(self.admin, image_id,
                                                stores=['site_a']))
        # Glance takes the image's import lock before it answers 202; Nova's image
        # dict keeps os_glance_* keys under properties.
        during = self.api.get(self.demo, image_id)
        task_id = during['properties'].get('os_glance_import_task')
        self.assertTrue(task_id, during)

        self.wait_copied(image_id, 'site_a')
        after = self.api.get(self.demo, image_id)
        self.assertEqual({'central', 'site_a'}, set(after['stores'].split(',')))
        self.assertFalse(after['properties'].get('os_glance_failed_import'))

        tasks = self.api.get_image_tasks(self.admin, image_id)
        task = [t for t in tasks if t['id'] == task_id][0]
        self.assertEqual('success', task['status'])
        for key in ('type', 'message', 'created_at', 'updated_at'):
            self.assertIn(key, task)

    def test_copy_to_a_store_that_has_it(self):
        self.use(copy_credentials='user')
        image_id, _data = self.upload(size=MIB, store='site_a')
        self.assertRaises(glance_multistore.ImageAlreadyInStore,
                          self.api.image_import, self.admin, image_id,
                          stores=['site_a'])

    def test_copy_while_another_runs_is_in_progress(self):
        self.use(copy_credentials='user')
        image_id, _data = self.upload(size=64 * MIB)
        self.addCleanup(self.wait_unlocked, image_id)
        self.api.image_import(self.admin, image_id, stores=['site_a'])
        # Glance's lock is per image, not per store.
        for store in ('site_a', 'site_b'):
            e = self.assertRaises(glance_multistore.ImageImportInProgress,
                                  self.api.image_import, self.admin, image_id,
                                  stores=[store])
            self.assertIsInstance(e, exception.ImageImportImpossible)

    def test_unknown_store(self):
        self.use(copy_credentials='user')
        image_id, _data = self.upload(size=MIB)
        e = self.assertRaises(glance_multistore.GlanceStoreNotFound,
                              self.api.image_import, self.admin, image_id,
                              stores=['no_such_store'])
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn('no_such_store', str(e))
        self.assertEqual([], self.api.get_image_tasks(self.admin, image_id))

    def test_unknown_image(self):
        self.use()
        self.assertRaises(exception.ImageNotFound, self.api.image_import,
                          self.admin, MISSING, stores=['site_a'])
        self.assertRaises(exception.ImageNotFound, self.api.get, self.demo, MISSING)

    def test_member_with_user_credentials_is_not_authorized(self):
        self.use_user_token_alone()
        image_id, _data = self.upload(size=MIB)
        e = self.assertRaises(glance_multistore.ImageCopyNotAuthorized,
                              self.api.image_import, self.demo, image_id,
                              stores=['site_a'])
        self.assertIsInstance(e, exception.ImageUnacceptable)
        self.assertIn('copy_image', str(e))
        self.assertIn('copy_credentials', str(e))
        self.assertNotIn(self.demo.auth_token, str(e))
        self.assertEqual({'central'}, self.stores(image_id))

    def test_member_with_service_credentials(self):
        self.use(copy_credentials='auto')
        image_id, _data = self.upload(size=MIB)
        self.assertIsNone(self.api.image_import(self.demo, image_id,
                                                stores=['site_a']))
        self.wait_copied(image_id, 'site_a')

    # --- locations, tasks, stores ---------------------------------------------------

    def test_locations_with_service_credentials(self):
        self.use(copy_credentials='auto')
        image_id, _data = self.upload(size=MIB, store='site_a')
        site = self.state.sites['site_a']
        locations = self.api.get_image_locations(self.demo, image_id)
        self.assertEqual(['rbd://%s/images/%s/snap' % (site['fsid'], image_id)],
                         [loc['url'] for loc in locations])
        self.assertEqual('site_a', locations[0]['metadata'].get('store'))

    def test_locations_hidden_from_a_member(self):
        # show_multiple_locations and show_image_direct_url are off (the safe
        # setting): a member sees no location, and that is not an error.
        self.use_user_token_alone()
        image_id, _data = self.upload(size=MIB, store='site_a')
        self.assertEqual([], self.api.get_image_locations(self.demo, image_id))

    def test_locations_for_an_admin_user(self):
        self.use(copy_credentials='user')
        image_id, _data = self.upload(size=MIB, store='site_b')
        [location] = self.api.get_image_locations(self.admin, image_id)
        self.assertTrue(location['url'].startswith(
            'rbd://%s/' % self.state.sites['site_b']['fsid']))

    def test_tasks_refused_to_a_member_are_empty(self):
        self.use(copy_credentials='user')
        image_id, _data = self.upload(size=MIB)
        self.api.image_import(self.admin, image_id, stores=['site_a'])
        self.wait_copied(image_id, 'site_a')
        self.assertEqual(1, len(self.api.get_image_tasks(self.admin, image_id)))
        self.assertIsInstance(self.api.get_image_tasks(self.demo, image_id), list)

    def test_store_detail(self):
        self.use(copy_credentials='auto')
        for store, site in (('site_a', 'site_a'), ('site_b', 'site_b'),
                            ('spare', 'site_a')):
            detail = self.api.get_store_detail(self.demo, store)
            self.assertEqual(store, detail['id'])
            self.assertEqual('rbd', detail['type'])
            self.assertEqual(self.state.sites[site]['fsid'],
                             detail['properties'].get('fsid'))
        self.assertEqual('images-spare',
                         self.api.get_store_detail(
                             self.demo, 'spare')['properties'].get('pool'))
        self.assertRaises(glance_multistore.GlanceStoreNotFound,
                          self.api.get_store_detail, self.demo, 'nowhere')

    def test_store_detail_refused_to_a_member(self):
        self.use(copy_credentials='user')
        self.assertIsNone(self.api.get_store_detail(self.demo, 'site_a'))

    # --- Glance down ----------------------------------------------------------------

    def test_glance_down(self):
        self.use(endpoint_override='http://127.0.0.1:9', num_retries=1)
        start = time.monotonic()
        self.assertRaises(exception.GlanceConnectionFailed, self.api.get,
                          self.demo, MISSING)
        self.assertLess(time.monotonic() - start, 10)
