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

"""The admin guide's least-privilege setup, as the stack deploys it.

Nova's user has the ``service`` and ``reader`` roles in project ``service``
and nothing else; Glance runs the guide's policy file (read from the guide,
see ``fixtures/guide.py``); every compute sends Nova's service token with the user's
(``[service_user] send_service_user_token``). These tests check that this is
what runs, what Glance shows each caller (the facts the guide states), and
that the demo project's private images, and another project's image shared
with it, boot from a site-local clone through the real cloud.
"""

import os

from nova.tests.live.fixtures import guide
from nova.tests.live import test_cloud_api
from nova.tests.live import test_cloud_boot

bootable = test_cloud_boot.bootable


class LeastPrivilegeTest(test_cloud_boot.CloudTestCase):

    as_user = test_cloud_api.CloudApiTest.as_user
    admin_api = test_cloud_api.CloudApiTest.admin_api
    assert_clone_of = test_cloud_api.CloudApiTest.assert_clone_of

    # --- helpers ----------------------------------------------------------------------

    def glance_get(self, user, path, service_token=False):
        """Status of GET ``path`` on Glance as ``user`` (with Nova's service token)."""
        headers = {}
        if service_token:
            headers['X-Service-Token'] = self.stack.session('nova').get_token()
        resp = self.stack.session(user).get(
            self.state.glance_url + path, headers=headers, raise_exc=False)
        return resp.status_code

    def glance_copy(self, user, image_id, store, service_token=False):
        headers = {'Content-Type': 'application/json'}
        if service_token:
            headers['X-Service-Token'] = self.stack.session('nova').get_token()
        resp = self.stack.session(user).post(
            '%s/v2/images/%s/import' % (self.state.glance_url, image_id),
            json={'method': {'name': 'copy-image'}, 'stores': [store]},
            headers=headers, raise_exc=False)
        return resp.status_code

    def role_names(self, user):
        sess = self.stack.session('admin')
        url = self.state.keystone_url
        uid = sess.get('%s/users?name=%s' % (url, user)).json()['users'][0]['id']
        assignments = sess.get('%s/role_assignments?user.id=%s&include_names=1'
                               % (url, uid)).json()['role_assignments']
        return sorted((a['scope'].get('project', {}).get('name'), a['role']['name'])
                      for a in assignments)

    def private_image(self, user='demo'):
        return self.stack.upload_image(bootable(self.state.boot_image),
                                       store='central', user=user,
                                       visibility='private')

    def boot_as_demo(self, image_id, site):
        self.as_user('demo')
        server_id = self.create(image_id, site)
        self.wait_status(server_id, ('ACTIVE',))
        self.assert_clone_of(site, server_id, image_id)
        self.assertIn(site, self.stores(image_id))
        return server_id

    # --- what runs --------------------------------------------------------------------

    def test_nova_has_the_guides_roles_only(self):
        self.assertEqual([('service', 'reader'), ('service', 'service')],
                         self.role_names('nova'))

    def test_glance_runs_the_guides_policy(self):
        with open(os.path.join(self.state.run_dir, 'glance', 'policy.yaml')) as f:
            self.assertEqual(guide.file('glance-policy.yaml'), f.read())

    # --- what Glance shows each caller (the guide's statements) -----------------------

    def test_glance_hides_a_private_image_from_novas_user(self):
        image_id = self.private_image()
        # Glance's database layer hides it: no policy rule changes that.
        for path in ('/v2/images/%s', '/v2/images/%s/locations',
                     '/v2/images/%s/tasks'):
            self.assertEqual(404, self.glance_get('nova', path % image_id), path)
        self.assertEqual(404, self.glance_copy('nova', image_id, 'site_a'))
        # Store details are for the service role.
        self.assertEqual(200, self.glance_get('nova', '/v2/info/stores/detail'))
        self.assertEqual(403, self.glance_get('demo', '/v2/info/stores/detail'))

    def test_the_user_alone_may_not_copy_nor_read_locations(self):
        image_id = self.private_image()
        self.assertEqual(403, self.glance_get('demo', '/v2/images/%s/locations'
                                              % image_id))
        self.assertEqual(403, self.glance_copy('demo', image_id, 'site_a'))
        self.assertEqual(200, self.glance_get('demo', '/v2/images/%s/tasks'
                                              % image_id))
        self.assertEqual(set(['central']), self.stores(image_id))

    def test_the_user_with_novas_service_token_reads_locations(self):
        image_id = self.private_image()
        self.assertEqual(200, self.glance_get(
            'demo', '/v2/images/%s/locations' % image_id, service_token=True))

    def test_novas_user_reads_and_copies_a_public_image(self):
        image_id = self.stack.upload_image(bootable(self.state.boot_image),
                                           store='central')
        self.assertEqual(200, self.glance_get('nova', '/v2/images/%s/locations'
                                              % image_id))
        self.assertEqual(202, self.glance_copy('nova', image_id, 'site_b'))
        self.addCleanup(self.wait_unlocked, image_id)
        # Its own copy's task: Glance lists an image's tasks to callers its
        # get_image rule allows, which needs the reader role.
        tasks = self.stack.session('nova').get(
            '%s/v2/images/%s/tasks' % (self.state.glance_url, image_id)).json()
        self.assertEqual(1, len(tasks['tasks']), tasks)

    # --- boots through the cloud ------------------------------------------------------

    def test_private_image_of_the_booting_project_boots_from_a_clone(self):
        site = 'site_a'
        image_id = self.private_image()
        self.assertEqual({'central'}, self.stores(image_id))
        self.boot_as_demo(image_id, site)
        copies = self.copy_tasks(image_id)
        self.assertEqual(1, len(copies), copies)
        # The task is the demo project's: Nova asked with the user's token.
        demo_project = self.stack.session('demo').get_project_id()
        self.assertEqual(demo_project, copies[0]['owner'])
        # Already in the site's store: the next boot finds it (locations read
        # with the user's token and Nova's service token) and copies nothing.
        self.boot_as_demo(image_id, site)
        self.assertEqual(1, len(self.copy_tasks(image_id)))

    def test_another_projects_image_shared_with_the_user_boots(self):
        site = 'site_b'
        image_id = self.stack.upload_image(bootable(self.state.boot_image),
                                           store='central', visibility='shared')
        demo_project = self.stack.session('demo').get_project_id()
        admin = self.stack.glance('admin')
        admin.image_members.create(image_id, demo_project)
        self.stack.glance('demo').image_members.update(image_id, demo_project,
                                                        'accepted')
        self.assertEqual(404, self.glance_get('nova', '/v2/images/%s' % image_id))
        self.boot_as_demo(image_id, site)
        self.assertEqual(1, len(self.copy_tasks(image_id, status='success')))
