"""The Lua scripts of the fan-out: each runs atomically in Redis, in one round trip.

Presence (which nodes hold an agent) is a sorted set per agent, each node id scored with the
time its entry expires, in milliseconds of Redis's own clock (``TIME``), so that nodes whose
clocks differ agree on it. An entry is alive while its score is not in the past; expired ones
are dropped whenever a node joins or renews, and the set itself expires with its last entry.
"""

from __future__ import annotations

__all__ = ["JOIN", "PUBLISH", "RENEW"]

# Redis's clock in milliseconds, as ``now``.
_NOW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
"""

# Give ``node`` an entry in presence set ``key`` for ``ttl`` ms more; keep the set alive as long
# as its latest entry, and drop the expired ones (nodes that were killed with entries).
_HOLD = """
local function hold(key, node, ttl)
  redis.call('ZADD', key, now + ttl, node)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('(%d', now))
  redis.call('PEXPIREAT', key, redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')[2])
end
"""

# Number, keep and route one frame.
# KEYS: seq counter, replay stream, presence. ARGV: agent, frame (seq 0), replay maxlen, replay
# expiry ms, the frames channel of a node less the node's id.
PUBLISH = (
    _NOW
    + """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-1', 'f', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local nodes = redis.call('ZRANGEBYSCORE', KEYS[3], now, '+inf')
if #nodes > 0 then
  local message = seq .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2]
  for _, node in ipairs(nodes) do
    redis.call('PUBLISH', ARGV[5] .. node, message)
  end
end
return seq
"""
)

# A node starts holding an agent: its entry, then the agent's last seq and the frames numbered
# after ``after`` (the last this node has), all in one step: a frame numbered before the entry
# is in this answer, one numbered after it is published to the node. The frames are read only
# when the node had seen the agent (after > 0) and at most ``most`` of them are missing:
# otherwise the answer is the last seq alone and the node's buffer starts again from there
# (a tab that needs older frames reads exactly those, as a tab moving between nodes does).
# KEYS: presence, seq counter, replay stream. ARGV: node, presence ttl ms, after, most.
# Returns {last seq, {{entry id, {field, frame}}, ...}}.
JOIN = (
    _NOW
    + _HOLD
    + """
hold(KEYS[1], ARGV[1], tonumber(ARGV[2]))
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local after = tonumber(ARGV[3])
if after == 0 or after >= last or last - after > tonumber(ARGV[4]) then
  return {last, {}}
end
return {last, redis.call('XRANGE', KEYS[3], string.format('%d-0', after + 1), '+')}
"""
)

# Renew this node's entries in the agents' presence sets, but only those still alive: an entry
# that expired (the node could not renew in time) is not brought back here: the node joins
# again, reading what was numbered meanwhile.
# KEYS: presence sets. ARGV: node, presence ttl ms. Returns the (1-based) indexes of the keys
# whose entry had expired or gone.
RENEW = (
    _NOW
    + _HOLD
    + """
local lapsed = {}
for i, key in ipairs(KEYS) do
  local until_ms = tonumber(redis.call('ZSCORE', key, ARGV[1]))
  if until_ms and until_ms >= now then
    hold(key, ARGV[1], tonumber(ARGV[2]))
  else
    lapsed[#lapsed + 1] = i
  end
end
return lapsed
"""
)
