"""The Lua scripts that make each coordination step one atomic Redis round trip."""

from __future__ import annotations

# GCRA: one request per `interval` ms per host. Redis TIME is the clock, so worker clocks
# need not agree. Reserves the slot only when the wait is within max_wait; returns
# {reserved, wait_ms}. A local function, shared by the scripts that take a host slot.
_TAKE_HOST_SLOT_LUA = """
local function take_host_slot(key, interval, max_wait)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local wait = tat - now
  if wait > max_wait then return {0, wait} end
  local new_tat = tat + interval
  redis.call('SET', key, new_tat, 'PX', new_tat - now + 1000)
  return {1, wait}
end
"""

# KEYS: host budget. ARGV: interval ms, max wait ms.
HOST_SLOT_LUA = (
    _TAKE_HOST_SLOT_LUA + "return take_host_slot(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"
)

# begin_poll: the feed lock and, once it is held, the host slot, in one round trip.
# KEYS: lock, host budget (absent for a feed without a host). ARGV: token, lock ms, interval ms,
# max wait ms. Returns {acquired, wait_ms}; the slot is reserved only when wait_ms <= max wait.
BEGIN_POLL_LUA = (
    _TAKE_HOST_SLOT_LUA
    + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, 0} end
if #KEYS < 2 then return {1, 0} end
local slot = take_host_slot(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
return {1, slot[2]}
"""
)

# end_poll: release the lock if the token still holds it and, when ARGV[2] is given, add a poll
# outcome to the window (KEYS[2], trimmed to ARGV[3] items), in one round trip.
END_POLL_LUA = """
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then released = redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
end
return released
"""

# KEYS: lock. ARGV: token. Deletes the lock only while token holds it.
RELEASE_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lock. ARGV: token, lease ms. Extends the lock only while token holds it, so a holder
# whose lock expired and was taken by another poll never extends the new holder's lock.
RENEW_LOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
