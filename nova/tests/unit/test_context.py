"""Tests for nova.context: identity from a Keystone session, and the token plugin."""

from unittest import mock

from keystoneauth1 import access as ks_access
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import identity as ks_identity
from keystoneauth1 import session as ks_session
import testtools

from nova import context

TOKEN = 'gAAAA-secret-token-value'
GLANCE_PUBLIC = 'http://127.0.0.1:9292'
GLANCE_INTERNAL = 'http://10.0.0.1:9292'


def _v3_access():
    token = ks_fixture.V3Token(user_id='u1', user_name='demo', project_id='p1',
                               project_name='demo-project')
    token.add_role(name='member')
    token.add_role(name='reader')
    service = token.add_service('image', name='glance')
    service.add_standard_endpoints(public=GLANCE_PUBLIC, internal=GLANCE_INTERNAL,
                                   region='RegionOne')
    return ks_access.create(body=token, auth_token=TOKEN)


def _session_for(access):
    auth = mock.create_autospec(ks_identity.BaseIdentityPlugin, instance=True)
    auth.get_access.return_value = access
    sess = mock.create_autospec(ks_session.Session, instance=True)
    sess.auth = auth
    return sess


class FromAuthSessionTest(testtools.TestCase):

    def test_takes_identity_token_roles_and_catalog(self):
        sess = _session_for(_v3_access())

        ctx = context.RequestContext.from_auth_session(sess)

        sess.auth.get_access.assert_called_once_with(sess)
        self.assertEqual('u1', ctx.user_id)
        self.assertEqual('demo', ctx.user_name)
        self.assertEqual('p1', ctx.project_id)
        self.assertEqual('demo-project', ctx.project_name)
        self.assertEqual(TOKEN, ctx.auth_token)
        self.assertEqual(['member', 'reader'], sorted(ctx.roles))
        self.assertFalse(ctx.is_admin)
        self.assertEqual(['image'], [s['type'] for s in ctx.service_catalog])
        self.assertTrue(ctx.request_id.startswith('req-'))

    def test_admin_role_makes_admin(self):
        ctx = context.RequestContext(roles=['Admin', 'member'])
        self.assertTrue(ctx.is_admin)

    def test_explicit_is_admin_wins(self):
        self.assertFalse(context.RequestContext(roles=['admin'], is_admin=False).is_admin)

    def test_request_ids_are_unique_unless_given(self):
        self.assertNotEqual(context.RequestContext().request_id,
                            context.RequestContext().request_id)
        self.assertEqual('req-x', context.RequestContext(request_id='req-x').request_id)


class SecretsTest(testtools.TestCase):

    def test_to_dict_and_repr_leave_out_the_token(self):
        ctx = context.RequestContext.from_auth_session(_session_for(_v3_access()))

        as_dict = ctx.to_dict()

        self.assertNotIn('auth_token', as_dict)
        self.assertNotIn(TOKEN, repr(as_dict))
        self.assertNotIn(TOKEN, repr(ctx))
        self.assertIn('u1', repr(ctx))
        self.assertEqual(['image'], as_dict['service_types'])


class ContextAuthPluginTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.ctx = context.RequestContext.from_auth_session(_session_for(_v3_access()))
        self.plugin = self.ctx.get_auth_plugin()
        self.session = ks_session.Session(auth=self.plugin)

    def test_presents_the_users_token(self):
        self.assertEqual({'X-Auth-Token': TOKEN},
                         self.plugin.get_headers(self.session))
        self.assertEqual('u1', self.plugin.get_user_id(self.session))
        self.assertEqual('p1', self.plugin.get_project_id(self.session))

    def test_finds_endpoint_by_interface_preference(self):
        self.assertEqual(GLANCE_INTERNAL, self.plugin.get_endpoint(
            self.session, service_type='image', interface=['internal', 'public']))
        self.assertEqual(GLANCE_PUBLIC, self.plugin.get_endpoint(
            self.session, service_type='image'))

    def test_region_filter(self):
        self.assertIsNone(self.plugin.get_endpoint(
            self.session, service_type='image', region_name='Elsewhere'))
        self.assertEqual(GLANCE_PUBLIC, self.plugin.get_endpoint(
            self.session, service_type='image', region_name='RegionOne'))

    def test_unknown_service_or_no_type_is_none(self):
        self.assertIsNone(self.plugin.get_endpoint(self.session,
                                                   service_type='compute'))
        self.assertIsNone(self.plugin.get_endpoint(self.session))

    def test_endpoint_override_wins(self):
        self.assertEqual('http://override:1', self.plugin.get_endpoint(
            self.session, service_type='image', endpoint_override='http://override:1'))

    def test_never_refreshes(self):
        self.assertFalse(self.plugin.invalidate())
        self.assertEqual(TOKEN, self.plugin.get_token(self.session))

    def test_session_request_goes_to_catalog_endpoint_with_token(self):
        with mock.patch.object(ks_session.Session, '_send_request',
                               autospec=True) as send:
            send.return_value = mock.Mock(status_code=200, headers={}, text='{}')
            self.session.get('/v2/images', endpoint_filter={
                'service_type': 'image', 'interface': 'public'}, raise_exc=False)
        args, kwargs = send.call_args
        self.assertEqual(GLANCE_PUBLIC + '/v2/images', args[1])
        self.assertEqual(TOKEN, kwargs['headers']['X-Auth-Token'])

    def test_v2_catalog_layout(self):
        catalog = [{'type': 'image', 'name': 'glance', 'endpoints': [
            {'region': 'RegionOne', 'publicURL': GLANCE_PUBLIC,
             'internalURL': GLANCE_INTERNAL}]}]
        plugin = context.RequestContext(auth_token=TOKEN,
                                        service_catalog=catalog).get_auth_plugin()
        self.assertEqual(GLANCE_INTERNAL, plugin.get_endpoint(
            self.session, service_type='image', interface='internal'))
