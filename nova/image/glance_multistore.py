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

"""Glance multi-store calls for copying images between stores.

``ImageServiceMixin`` adds to ``nova.image.glance.GlanceImageServiceV2`` the
Glance calls the RBD image backend needs to copy an image into the store of
its Ceph cluster and to wait for that copy: a general ``image_import``, the
image's locations, its import tasks and the detail of one store. Every call
goes through Nova's ``GlanceClientWrapper.call`` (glanceclient, Nova's
endpoint discovery and retries); Glance's answers become ``nova.exception``
types, with the subclasses below where the caller acts on the difference.

``APIMixin`` adds the same calls to ``nova.image.glance.API``, resolving an
image reference the way the other ``API`` methods do.

Whose credentials: copying and reading locations are service operations in
Glance (its default ``copy_image`` policy and the locations API are for the
admin and service roles), so these calls can use Nova's service user, loaded
from the ``[service_user]`` options like every other service call Nova makes,
as ``[glance] copy_credentials`` says.

The image record itself is read with ``API.get``; Glance's import markers
``os_glance_importing_to_stores`` and ``os_glance_failed_import`` are not in
Glance's image schema, so Nova's translation puts them under
``image['properties']``, not at the top level.

This module must not import ``nova.image.glance`` at import time (that module
imports this one): the helpers it needs from there are imported in functions.
"""

import collections
import copy
import html
import http
import re
import time

import glanceclient
import glanceclient.exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from oslo_log import log as logging

import nova.conf
from nova import exception
from nova.i18n import _
from nova import service_auth

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF

# The longest piece of a Glance error message put into ours.
_MAX_MESSAGE = 400
_TAG = re.compile(r'<[^>]*>')
_MAX_LINE = re.compile(r'\s+')
_STORE_NOT_FOUND = re.compile(r'Store for identifier (\S+) not found')
_IN_PROGRESS = ('active task', 'still in progress')

# Glance answers a read with these when the caller may not see the thing
# (401, 403), when it hides a private image from the caller (404), or when it
# is too old for the call (glanceclient raises HTTPNotImplemented itself).
_REFUSED = (glanceclient.exc.HTTPUnauthorized,
            glanceclient.exc.HTTPForbidden,
            glanceclient.exc.HTTPNotFound,
            glanceclient.exc.HTTPNotImplemented)
# What ImageServiceMixin._first_shown returns when Glance refuses every
# reader.
_NOT_SHOWN = object()

_TASK_KEYS = ('id', 'type', 'status', 'message', 'created_at', 'updated_at')


class GlanceCallTimeout(exception.NovaException):
    """The caller's deadline passed before (or while) Glance answered."""

    msg_fmt = _("Glance did not answer within the %(timeout).1f s left "
                "before the boot's deadline")


class GlanceUnexpectedAnswer(exception.ImageUnacceptable):
    """An answer with status 2xx that is not what Glance's API returns."""

    msg_fmt = _("Glance's answer to %(call)s for image %(image_id)s is not "
                "what its API returns: %(reason)s. Check what answers at "
                "Glance's endpoint (a proxy or load balancer can return "
                "error pages with status 200) and Glance's API log.")


class ImageImportInProgress(exception.ImageImportImpossible):
    """Another import holds the image: wait for it rather than fail."""

    msg_fmt = _("Glance is already importing image %(image_id)s "
                "(%(reason)s). Glance runs one import per image at a time; "
                "this request can be repeated once that import ends. If it "
                "never ends, a Glance worker may have died during it: the "
                "image's os_glance_import_task property and Glance's log "
                "name the task.")


class GlanceStoreNotFound(exception.ImageUnacceptable):
    msg_fmt = _("Glance has no store named %(store)s. Set [libvirt] "
                "images_rbd_glance_store_name to one of the stores in "
                "Glance's enabled_backends, or add the store to Glance.")


class ImageAlreadyInStore(exception.ImageBadRequest):
    """copy-image to a store that holds the image: nothing left to copy."""

    msg_fmt = _("Image %(image_id)s is already present in Glance store "
                "%(store)s, so Glance has nothing to copy. If Nova still "
                "finds no usable location there, check the image's "
                "locations in Glance.")


class ImageCopyNotAuthorized(exception.ImageUnacceptable):
    msg_fmt = _("Glance refused to copy image %(image_id)s to store "
                "%(store)s for %(who)s (%(reason)s). Glance's copy_image "
                "policy decides who may copy images (admin only by "
                "default): set [glance] copy_credentials to auto or service "
                "and configure Nova's [service_user] credentials for a user "
                "that policy allows, or change the copy_image policy in "
                "Glance (\"role:admin or role:service or "
                "service_roles:service\" also lets Nova copy, on the "
                "booting user's behalf, images only the user's project can "
                "see).")


# Whose credentials a call uses: the context to call with, a name for
# messages and logs, and whether it is Nova's service user.
_Credentials = collections.namedtuple(
    '_Credentials', ['context', 'who', 'is_service'])


def glance_message(exc):
    """The human part of a glanceclient error, without HTML or status line.

    glanceclient strips the tags from Glance's HTML error page and prefixes
    the status ("409 Conflict: Image has active task"); what is left of the
    page (``<br />``, entities, blank lines) goes too.
    """
    text = getattr(exc, 'details', None) or str(exc)
    text = ' '.join(html.unescape(_TAG.sub(' ', str(text))).split())
    code = getattr(exc, 'code', None)
    if isinstance(code, int):
        try:
            status = '%d %s' % (code, http.HTTPStatus(code).phrase)
        except ValueError:
            status = None
        if status and text.startswith(status):
            text = text[len(status):].lstrip(': ')
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE - 3] + '...'
    return text or type(exc).__name__


def is_transient(exc):
    """Whether a Glance call's error may go away by itself: Glance not
    reachable, restarting, too slow, or answering 5xx.
    """
    if isinstance(exc, (exception.GlanceConnectionFailed, GlanceCallTimeout,
                        ks_exc.ConnectionError,
                        glanceclient.exc.CommunicationError,
                        glanceclient.exc.InvalidEndpoint)):
        return True
    code = getattr(exc, 'code', None)
    return (isinstance(exc, glanceclient.exc.HTTPException) and
            isinstance(code, int) and code >= 500)


def describe_fault(exc):
    """A transient Glance error as one line for logs and messages."""
    if isinstance(exc, glanceclient.exc.HTTPException):
        return 'HTTP %s: %s' % (getattr(exc, 'code', '?'), glance_message(exc))
    if isinstance(exc, exception.NovaException):
        return exc.format_message()
    return '%s: %s' % (type(exc).__name__, _MAX_LINE.sub(' ', str(exc))[
        :_MAX_MESSAGE])


def _bounded_client_wrapper(timeout, endpoint=None, context=None):
    """Nova's ``GlanceClientWrapper`` whose HTTP requests time out after
    ``timeout`` seconds, ``[glance] timeout`` if shorter.

    Nova's wrapper retries a failed connection ``[glance] num_retries``
    times, one second apart; each retry gets what is left of ``timeout``,
    and none starts once it is spent (GlanceCallTimeout).
    """
    from nova.image import glance

    class BoundedClientWrapper(glance.GlanceClientWrapper):

        def __init__(self):
            self.deadline = _monotonic() + timeout
            super().__init__(context=context, endpoint=endpoint)

        def _bounded(self, context, endpoint, version):
            left = self.deadline - _monotonic()
            if left <= 0:
                raise GlanceCallTimeout(timeout=timeout)
            sess, auth = glance._session_and_auth(context)
            if sess.timeout is not None:
                left = min(left, sess.timeout)
            bounded = ks_session.Session(
                auth=sess.auth, session=sess.session, verify=sess.verify,
                cert=sess.cert, timeout=left)
            return glanceclient.Client(
                version, session=bounded, auth=auth,
                endpoint_override=endpoint,
                global_request_id=context.global_id)

        def _create_static_client(self, context, endpoint, version):
            self.api_server = str(endpoint)
            self._static = (context, endpoint, version)
            return None

        def _create_onetime_client(self, context, version):
            static = getattr(self, '_static', None)
            if static is not None:
                return self._bounded(*static)
            if self.api_servers is None:
                self.api_servers = glance.get_api_servers(context)
            self.api_server = next(self.api_servers)
            return self._bounded(context, self.api_server, version)

    return BoundedClientWrapper()


def _monotonic():
    return time.monotonic()


def _copy_credentials_mode():
    return CONF.glance.copy_credentials


def _user_credentials(context):
    return _Credentials(context, _('user %s') % context.user_id, False)


def _service_credentials(context):
    """Nova's service user as a copy of ``context``, or None if unset."""
    group = nova.conf.service_token.SERVICE_USER_GROUP
    try:
        auth = service_auth.get_service_auth_plugin(group)
    except (ks_exc.MissingRequiredOptions, ks_exc.NoMatchingPlugin) as exc:
        raise exception.InvalidConfiguration(
            _('The [%(group)s] options do not describe a usable Keystone '
              'user (%(error)s). Fix them, or set [glance] copy_credentials '
              'to user.') % {'group': group, 'error': exc})
    if auth is None:
        return None
    service_context = copy.copy(context)
    service_context.user_auth_plugin = auth
    return _Credentials(service_context, _("Nova's service user"), True)


def _credentials(context, as_service=None):
    """The credentials a copy or a service read uses.

    ``as_service`` None follows ``[glance] copy_credentials``: ``auto`` takes
    Nova's service user when ``[service_user]`` configures one and the user's
    token otherwise, ``service`` requires the service user, ``user`` never
    uses it. True and False choose directly.
    """
    if as_service is None:
        mode = _copy_credentials_mode()
        if mode == 'auto':
            return (_service_credentials(context) or
                    _user_credentials(context))
        as_service = mode == 'service'
    if not as_service:
        return _user_credentials(context)
    creds = _service_credentials(context)
    if creds is None:
        raise exception.InvalidConfiguration(
            _('Glance calls are to use Nova\'s service user ([glance] '
              'copy_credentials = service), but the [service_user] section '
              'sets no auth_type. Configure the [service_user] credentials, '
              'or set [glance] copy_credentials to auto or user.'))
    return creds


def _readers(context):
    """Credentials to try, in order, for a read that may need a service role.

    The service user (when ``[glance] copy_credentials`` uses it) sees what
    Glance keeps for admins and services; the user's own token comes second,
    for images the service user's project cannot see.
    """
    creds = _credentials(context)
    if creds.is_service:
        return [creds, _user_credentials(context)]
    return [creds]


# --- One parse layer for Glance's answers ----------------------------------
#
# glanceclient returns whatever JSON (or text, for an HTML page with status
# 200) came back. These check the shape the callers rely on and raise
# GlanceUnexpectedAnswer, naming the call, for anything else.

def _unexpected(call, image_id, reason):
    return GlanceUnexpectedAnswer(call=call, image_id=image_id, reason=reason)


def _expect(value, kind, call, image_id, what):
    if not isinstance(value, kind):
        raise _unexpected(call, image_id, _('%(what)s is a %(type)s') % {
            'what': what, 'type': type(value).__name__})
    return value


def _location(loc, image_id):
    call = 'get_image_locations'
    _expect(loc, dict, call, image_id, _('a location'))
    url = loc.get('url')
    if url is not None:
        _expect(url, str, call, image_id, _('a location url'))
    metadata = loc.get('metadata')
    metadata = {} if metadata is None else metadata
    _expect(metadata, dict, call, image_id, _('a location\'s metadata'))
    return {'url': url, 'metadata': dict(metadata)}


def _locations(locations, image_id):
    if locations is None:
        return []
    _expect(locations, (list, tuple), 'get_image_locations', image_id,
            _('the location list'))
    result = []
    seen = set()
    for loc in locations:
        loc = _location(loc, image_id)
        if loc['url'] and loc['url'] not in seen:
            seen.add(loc['url'])
            result.append(loc)
    return result


def _tasks(body, image_id):
    call = 'get_image_tasks'
    if body is None:
        return []
    _expect(body, dict, call, image_id, _('the answer'))
    tasks = body.get('tasks')
    tasks = [] if tasks is None else tasks
    _expect(tasks, list, call, image_id, _('the task list'))
    return [_task(task, image_id) for task in tasks]


def _task(task, image_id):
    call = 'get_image_tasks'
    _expect(task, dict, call, image_id, _('a task'))
    result = {}
    for key in _TASK_KEYS:
        value = task.get(key)
        if value is not None and key != 'message':
            _expect(value, str, call, image_id, _('task field %s') % key)
        result[key] = value
    # What was asked (the stores of a copy) and what came of it.
    for key in ('input', 'result'):
        if key in task:
            result[key] = task[key]
    return result


def _stores(body):
    call = 'get_stores_info_detail'
    _expect(body, dict, call, None, _('the answer'))
    stores = body.get('stores')
    stores = [] if stores is None else stores
    _expect(stores, list, call, None, _('the store list'))
    for store in stores:
        _expect(store, dict, call, None, _('a store'))
        properties = store.get('properties')
        _expect({} if properties is None else properties, dict, call, None,
                _('a store\'s properties'))
    return stores


def _translated(image_id, exc):
    """Nova's exception for a glanceclient error not handled specially."""
    from nova.image import glance
    if isinstance(exc, glanceclient.exc.HTTPBadRequest):
        return exception.ImageBadRequest(image_id=image_id,
                                         response=glance_message(exc))
    return glance._translate_image_exception(image_id, exc)


class ImageServiceMixin(object):
    """Multi-store calls for ``GlanceImageServiceV2``."""

    def _multistore_call(self, creds, method, args=(), kwargs=None,
                         timeout=None):
        """``self._client.call`` with ``creds``; Keystone errors explained.

        ``timeout`` bounds the call's HTTP requests, retries included.
        """
        client = self._client
        static = getattr(client, 'client', None) is not None
        if timeout is not None:
            client = _bounded_client_wrapper(
                timeout, endpoint=client.api_server if static else None,
                context=creds.context)
        elif creds.is_service and static:
            # A client made for an image URL carries the user's auth: ask the
            # same endpoint as the service user.
            from nova.image import glance
            client = glance.GlanceClientWrapper(context=creds.context,
                                                endpoint=client.api_server)
        try:
            return client.call(creds.context, 2, method, args=tuple(args),
                               kwargs=kwargs or {})
        except (ks_exc.Unauthorized, ks_exc.AuthorizationFailure) as exc:
            if not creds.is_service:
                raise
            raise exception.InvalidConfiguration(
                _('Keystone did not authenticate Nova\'s service user: '
                  '%(error)s. Check the [service_user] options, or set '
                  '[glance] copy_credentials to user.') % {
                      'error': glance_message(exc)})

    def read_image(self, context, image_id, timeout=None):
        """``show(context, image_id)`` (Nova's image dict, as ``API.get``
        returns it), its requests bounded by ``timeout`` seconds.
        """
        service = self
        if timeout is not None:
            service = type(self)(client=_bounded_client_wrapper(
                timeout, context=context,
                endpoint=(self._client.api_server
                          if getattr(self._client, 'client', None) is not None
                          else None)))
        try:
            image = service.show(context, image_id)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # glanceclient built its image model from something that is not
            # an image record (an HTML page with status 200, wrong types).
            raise _unexpected('show', image_id, '%s: %s' % (
                type(exc).__name__, _MAX_LINE.sub(' ', str(exc))[:200]))
        if not isinstance(image, dict):
            raise _unexpected('show', image_id,
                              _('not an image record (%s)') %
                              type(image).__name__)
        return image

    def image_import(self, context, image_id, method='copy-image',
                     stores=None, all_stores_must_succeed=False,
                     allow_failure=True, as_service=None, timeout=None):
        """Start an import of the image (a copy to ``stores`` by default).

        Returns None once Glance has accepted the request; the import runs in
        Glance and its progress shows on the image. A copy to several stores
        keeps the stores that succeed unless ``all_stores_must_succeed`` is
        True or ``allow_failure`` is False (either asks Glance to roll back).

        :raises: ImageNotFound, ImageImportInProgress (another import holds
            the image), GlanceStoreNotFound, ImageAlreadyInStore,
            ImageCopyNotAuthorized, ImageImportImpossible (another conflict),
            ImageBadRequest, InvalidConfiguration (credentials),
            GlanceConnectionFailed.
        """
        creds = _credentials(context, as_service)
        must_succeed = all_stores_must_succeed or not allow_failure
        kwargs = {'method': method, 'allow_failure': not must_succeed}
        if stores:
            kwargs['stores'] = list(stores)
        store_names = ', '.join(stores) if stores else _('its default stores')
        started = _monotonic()
        try:
            self._multistore_call(creds, 'image_import', (image_id,), kwargs,
                                  timeout=timeout)
        except glanceclient.exc.HTTPNotFound as exc:
            if not (creds.is_service and as_service is None and
                    _copy_credentials_mode() == 'auto'):
                raise self._import_error(context, creds, image_id,
                                         store_names, exc)
            # Glance hides other projects' private (and shared) images from
            # everyone but admins, whatever its policy says: ask again as the
            # booting user, whose request carries Nova's service token when
            # [service_user] send_service_user_token is set.
            LOG.info("Glance does not show image %(image)s to Nova's "
                     "service user; asking for the copy with the booting "
                     "user's token", {'image': image_id})
            creds = _user_credentials(context)
            if timeout is not None:
                timeout = max(timeout - (_monotonic() - started), 0.001)
            try:
                self._multistore_call(creds, 'image_import', (image_id,),
                                      kwargs, timeout=timeout)
            except glanceclient.exc.HTTPException as exc:
                raise self._import_error(context, creds, image_id,
                                         store_names, exc)
        except glanceclient.exc.HTTPException as exc:
            raise self._import_error(context, creds, image_id, store_names,
                                     exc)
        LOG.info('Glance accepted %(method)s of image %(image)s to '
                 '%(stores)s for %(who)s',
                 {'method': method, 'image': image_id, 'stores': store_names,
                  'who': creds.who})

    def _import_error(self, context, creds, image_id, store_names, exc):
        message = glance_message(exc)
        lowered = message.lower()
        store = _STORE_NOT_FOUND.search(message)
        if (store and isinstance(exc, (glanceclient.exc.HTTPConflict,
                                       glanceclient.exc.HTTPNotFound))):
            return GlanceStoreNotFound(store=store.group(1),
                                       image_id=image_id, reason=message)
        if isinstance(exc, glanceclient.exc.HTTPConflict):
            if any(text in lowered for text in _IN_PROGRESS):
                return ImageImportInProgress(image_id=image_id,
                                             reason=message)
            return exception.ImageImportImpossible(image_id=image_id,
                                                   reason=message)
        if isinstance(exc, glanceclient.exc.HTTPBadRequest):
            if 'already present' in lowered:
                return ImageAlreadyInStore(image_id=image_id,
                                           store=store_names,
                                           response=message)
            return exception.ImageBadRequest(image_id=image_id,
                                             response=message)
        if isinstance(exc, (glanceclient.exc.HTTPForbidden,
                            glanceclient.exc.HTTPUnauthorized)):
            return ImageCopyNotAuthorized(
                image_id=image_id, store=store_names, who=creds.who,
                reason='HTTP %s: %s' % (exc.code, message))
        if isinstance(exc, glanceclient.exc.HTTPNotFound) and creds.is_service:
            # Missing, or hidden from a service user without the admin role?
            # Reading it as the user raises ImageNotFound if it is missing.
            self.show(context, image_id)
            return ImageCopyNotAuthorized(
                image_id=image_id, store=store_names, who=creds.who,
                reason=_('Glance answered 404 although the booting user can '
                         'read the image: Glance hides other projects\' '
                         'private images from users without the admin '
                         'role'))
        return _translated(image_id, exc)

    def _first_shown(self, context, method, args, image_id, what, timeout):
        """The answer to the first reader Glance shows ``what`` to.

        Readers come in ``_readers`` order (the service user first when
        ``[glance] copy_credentials`` uses one). A refusal moves on to the
        next reader; any other Glance error is translated. ``_NOT_SHOWN``
        when Glance refuses them all.
        """
        for creds in _readers(context):
            try:
                return self._multistore_call(creds, method, args,
                                             timeout=timeout)
            except _REFUSED as exc:
                LOG.debug('Glance did not show %(what)s to %(who)s: '
                          '%(error)s', {'what': what, 'who': creds.who,
                                        'error': glance_message(exc)})
            except glanceclient.exc.HTTPException as exc:
                raise _translated(image_id, exc)
        return _NOT_SHOWN

    def get_image_locations(self, context, image_id, timeout=None):
        """The image's locations: ``[{'url': str, 'metadata': dict}]``.

        Glance's locations API (``GET /v2/images/{id}/locations``) is for
        the service and admin roles, so it is asked with the service user
        when ``[glance] copy_credentials`` uses one, then with the user's
        token. When Glance refuses both (or is older than API 2.17), the
        ``locations`` and ``direct_url`` that Glance shows in the image
        record (``show_multiple_locations``, ``show_image_direct_url``) are
        used. An empty list means no location is visible.
        """
        locations = self._first_shown(
            context, 'get_image_locations', (image_id,), image_id,
            'the locations of image %s' % image_id, timeout)
        if locations is not _NOT_SHOWN:
            return _locations(locations, image_id)
        if timeout is None:
            image = self.show(context, image_id, include_locations=True)
        else:
            image = type(self)(client=_bounded_client_wrapper(
                timeout, context=context)).show(
                    context, image_id, include_locations=True)
        return _locations(image.get('locations'), image_id)

    def get_image_tasks(self, context, image_id, timeout=None):
        """The image's import tasks, oldest first as Glance lists them.

        Each is a dict with ``id``, ``type``, ``status``, ``message``,
        ``created_at`` and ``updated_at`` (plus ``input`` and ``result`` when
        Glance shows them). Glance lists only the tasks of the caller's
        project (admins see all); an empty list when Glance refuses.
        """
        body = self._first_shown(
            context, 'get_associated_image_tasks', (image_id,), image_id,
            'the tasks of image %s' % image_id, timeout)
        if body is _NOT_SHOWN:
            return []
        return _tasks(body, image_id)

    def get_store_detail(self, context, store_id, timeout=None):
        """Glance's description of one store, or None when Glance won't say.

        Returns ``{'id': ..., 'type': ..., 'properties': {...}}`` from
        ``GET /v2/info/stores/detail`` (for an rbd store the properties hold
        ``pool`` and, from recent Glance, ``fsid``). That listing is for the
        service and admin roles: None when Glance refuses every caller.

        :raises: GlanceStoreNotFound when the listing lacks ``store_id``.
        """
        body = self._first_shown(context, 'get_stores_info_detail', (),
                                 None, 'its store details', timeout)
        if body is _NOT_SHOWN:
            return None
        for store in _stores(body or {}):
            if store.get('id') == store_id:
                detail = dict(store)
                detail['type'] = store.get('type')
                detail['properties'] = dict(store.get('properties') or {})
                return detail
        raise GlanceStoreNotFound(store=store_id, image_id=None,
                                  reason=_('not in Glance\'s store list'))


class APIMixin(object):
    """Multi-store calls for ``nova.image.glance.API``."""

    def read_image(self, context, image_id, timeout=None):
        """``get(context, image_id)`` with its requests bounded by
        ``timeout`` seconds.
        """
        session, image_id = self._get_session_and_image_id(context, image_id)
        return session.read_image(context, image_id, timeout=timeout)

    def image_import(self, context, image_id, method='copy-image',
                     stores=None, all_stores_must_succeed=False,
                     allow_failure=True, as_service=None, timeout=None):
        """Start a Glance import of an image; see ImageServiceMixin."""
        session, image_id = self._get_session_and_image_id(context, image_id)
        return session.image_import(
            context, image_id, method=method, stores=stores,
            all_stores_must_succeed=all_stores_must_succeed,
            allow_failure=allow_failure, as_service=as_service,
            timeout=timeout)

    def get_image_locations(self, context, image_id, timeout=None):
        """The image's locations, as the service user sees them if it can."""
        session, image_id = self._get_session_and_image_id(context, image_id)
        return session.get_image_locations(context, image_id,
                                           timeout=timeout)

    def get_image_tasks(self, context, image_id, timeout=None):
        """The image's import tasks; [] when Glance refuses."""
        session, image_id = self._get_session_and_image_id(context, image_id)
        return session.get_image_tasks(context, image_id, timeout=timeout)

    def get_store_detail(self, context, store_id, timeout=None):
        """One Glance store's type and properties; None when refused."""
        return self._get_session(context).get_store_detail(
            context, store_id, timeout=timeout)
