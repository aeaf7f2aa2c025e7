# Loaded by the Python that runs moto_server in the tests (start_moto in
# tests/lib.sh puts this directory on PYTHONPATH for that process only).
#
# moto 5.2.1 checks a SigV4 signature against the request target as
# werkzeug decoded it ("keys/a,@b" where the client sent "keys/a%2C%40b",
# "prefix=keys/" for "prefix=keys%2F"), so even the aws CLI's correctly
# signed requests for object names with ",", "@", ":" or non-ASCII
# characters, and its listings with a "/" in the prefix, are refused with
# SignatureDoesNotMatch. S3 canonicalises the target as sent. This hands
# moto's unchanged verifier the raw request target (werkzeug's RAW_URI),
# as S3 does; every other part of the check (keys, headers, payload hash,
# policies) is moto's own. tests/t0142-key-stores.sh shows the aws CLI
# and cicache accepted for such names and a wrong secret still refused.
try:
    from urllib.parse import urlparse

    from moto.core import authorization, responses

    _setup = responses.BaseResponse.setup_class
    _check = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action

    def _setup_keep_raw(self, request, full_url, headers, *args, **kwargs):
        _setup(self, request, full_url, headers, *args, **kwargs)
        environ = getattr(request, "environ", None) or {}
        self._cicache_raw_target = environ.get("RAW_URI")

    def _check_raw_target(self, iam_request_cls, resource="*"):
        raw = getattr(self, "_cicache_raw_target", None)
        if not raw:
            return _check(self, iam_request_cls, resource)
        target = urlparse(raw)
        decoded = self.uri
        self.uri = urlparse(decoded)._replace(path=target.path, query=target.query).geturl()
        try:
            return _check(self, iam_request_cls, resource)
        finally:
            self.uri = decoded

    responses.BaseResponse.setup_class = _setup_keep_raw
    authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action = _check_raw_target
except ImportError:
    pass
