"""Who a request acts for: the user, their token and where their services live.

A :class:`RequestContext` carries the booting user's identity and Keystone token. Calls
made "as the user" (reading an image in Glance) authenticate with
:meth:`RequestContext.get_auth_plugin`, which presents that token and finds endpoints in
the user's own service catalog, so Glance applies the user's permissions, not Nova's.
"""

import uuid

from keystoneauth1.access import service_catalog as ks_catalog
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import plugin as ks_plugin


def _new_request_id():
    return 'req-%s' % uuid.uuid4()


def _catalog_from_list(catalog):
    """Wrap a raw catalog list in keystoneauth's v3 or v2 catalog reader."""
    for service in catalog:
        for endpoint in service.get('endpoints') or ():
            # v2 entries carry publicURL/internalURL/adminURL, v3 ones 'interface'.
            if 'interface' not in endpoint and any(
                    key.endswith('URL') for key in endpoint):
                return ks_catalog.ServiceCatalogV2(catalog)
    return ks_catalog.ServiceCatalogV3(catalog)


class _ContextAuthPlugin(ks_plugin.BaseAuthPlugin):
    """Authenticate with an existing token; find endpoints in its catalog.

    It never fetches a token: when the token expires, Glance answers 401 and the
    caller reports it, rather than silently acting with other credentials.
    """

    def __init__(self, auth_token, catalog, user_id=None, project_id=None):
        super().__init__()
        self._auth_token = auth_token
        self._catalog = _catalog_from_list(catalog or [])
        self._user_id = user_id
        self._project_id = project_id

    def get_token(self, session):
        return self._auth_token

    def get_user_id(self, session):
        return self._user_id

    def get_project_id(self, session):
        return self._project_id

    def get_endpoint(self, session, service_type=None, interface=None,
                     region_name=None, service_name=None, endpoint_override=None,
                     **kwargs):
        if endpoint_override:
            return endpoint_override
        if not service_type:
            return None
        try:
            return self._catalog.url_for(
                service_type=service_type, service_name=service_name,
                interface=interface or 'public', region_name=region_name)
        except ks_exc.EndpointNotFound:
            # keystoneauth's session turns None into its own EndpointNotFound.
            return None

    def get_endpoint_data(self, session, endpoint_override=None,
                          discover_versions=True, **kwargs):
        url = self.get_endpoint(session, endpoint_override=endpoint_override,
                                **kwargs)
        if not url:
            return None
        return super().get_endpoint_data(
            session, endpoint_override=url, discover_versions=discover_versions)

    def invalidate(self):
        # Nothing to refresh: the token belongs to the user's request.
        return False


class RequestContext:
    """The identity a request acts for.

    ``auth_token`` is a secret: it is left out of :meth:`to_dict` and ``repr``.
    """

    def __init__(self, user_id=None, project_id=None, auth_token=None, roles=None,
                 service_catalog=None, user_name=None, project_name=None,
                 request_id=None, is_admin=None):
        self.user_id = user_id
        self.project_id = project_id
        self.auth_token = auth_token
        self.roles = list(roles or [])
        self.service_catalog = list(service_catalog or [])
        self.user_name = user_name
        self.project_name = project_name
        self.request_id = request_id or _new_request_id()
        if is_admin is None:
            is_admin = 'admin' in (role.lower() for role in self.roles)
        self.is_admin = is_admin

    @classmethod
    def from_auth_session(cls, session, request_id=None):
        """Build a context from a keystoneauth session, authenticating if needed."""
        access = session.auth.get_access(session)
        catalog = access.service_catalog.catalog if access.has_service_catalog() else []
        return cls(user_id=access.user_id, project_id=access.project_id,
                   auth_token=access.auth_token, roles=access.role_names,
                   service_catalog=catalog, user_name=access.username,
                   project_name=access.project_name, request_id=request_id)

    def get_auth_plugin(self):
        """A keystoneauth plugin that acts with this context's token."""
        return _ContextAuthPlugin(self.auth_token, self.service_catalog,
                                  user_id=self.user_id, project_id=self.project_id)

    def to_dict(self):
        """The context for logs and messages: everything but the token."""
        return {
            'user_id': self.user_id,
            'project_id': self.project_id,
            'user_name': self.user_name,
            'project_name': self.project_name,
            'roles': list(self.roles),
            'is_admin': self.is_admin,
            'request_id': self.request_id,
            'service_types': sorted({service.get('type')
                                     for service in self.service_catalog
                                     if service.get('type')}),
        }

    def __repr__(self):
        return '<RequestContext %r>' % self.to_dict()
