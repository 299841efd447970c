"""An in-process stand-in for Swift's memcache middleware, for the test
harness only (tests/integration/swift/start-swift).

tempauth refuses to work without a cache ("Memcache required"), and the
tests must not depend on a memcached daemon (or share one between test
runs). This filter puts a dict-backed object with MemcacheRing's methods
in env['swift.cache']. Values go through JSON, as MemcacheRing stores them,
so callers see the same types (a tuple comes back as a list). Expiry is
honoured. One proxy process (workers = 0) holds one cache.
"""
import json
import time


class DictCache(object):
    def __init__(self):
        self._d = {}

    def _live(self, key):
        item = self._d.get(key)
        if item is None:
            return None
        expires, value = item
        if expires and expires < time.time():
            del self._d[key]
            return None
        return item

    @staticmethod
    def _expiry(t):
        if not t:
            return 0
        # memcache semantics: > 30 days is an absolute time
        return t if t > 30 * 24 * 3600 else time.time() + t

    def set(self, key, value, serialize=True, time=0, min_compress_len=0,
            raise_on_error=False):
        self._d[key] = (self._expiry(time),
                        json.dumps(value) if serialize else value)

    def get(self, key, raise_on_error=False):
        item = self._live(key)
        if item is None:
            return None
        value = item[1]
        return json.loads(value) if isinstance(value, str) else value

    def incr(self, key, delta=1, time=0):
        item = self._live(key)
        value = int(json.loads(item[1])) + delta if item else delta
        value = max(value, 0)
        self._d[key] = (item[0] if item else self._expiry(time),
                        json.dumps(value))
        return value

    def decr(self, key, delta=1, time=0):
        return self.incr(key, -delta, time)

    def delete(self, key, server_key=None):
        self._d.pop(key, None)

    def set_multi(self, mapping, server_key, serialize=True, time=0,
                  min_compress_len=0):
        for key, value in mapping.items():
            self.set(key, value, serialize, time)

    def get_multi(self, keys, server_key):
        return [self.get(k) for k in keys]


def filter_factory(global_conf, **local_conf):
    cache = DictCache()

    def make(app):
        def middleware(env, start_response):
            env['swift.cache'] = cache
            return app(env, start_response)
        return middleware
    return make
