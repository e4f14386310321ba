"""The Lua scripts of the Redis state: each change that must check and write in one step (a
rule's counter against its `times`, the clock, new rule ids, a scenario replacing its scope,
a replica joining) is one script, run atomically by Redis."""

# KEYS: clock, version. ARGV: wall time, seconds to advance, freeze ("1", "0" or "").
CHANGE_CLOCK = """
local off = tonumber(redis.call('HGET', KEYS[1], 'offset') or '0')
local fz = redis.call('HGET', KEYS[1], 'frozen_at')
if fz == false or fz == '' then fz = nil else fz = tonumber(fz) end
local wall, adv = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[3] == '1' and fz == nil then fz = wall + off end
if adv ~= 0 then if fz then fz = fz + adv else off = off + adv end end
if ARGV[3] == '0' and fz then off = fz - wall; fz = nil end
local soff = string.format('%.6f', off)
local sfz = fz and string.format('%.6f', fz) or ''
redis.call('HSET', KEYS[1], 'offset', soff, 'frozen_at', sfz)
redis.call('INCR', KEYS[2])
return {soff, sfz}
"""

# KEYS: rule sequence, rules, version. ARGV: the specs (JSON). Returns the first new number.
ADD_RULES = """
local last = redis.call('INCRBY', KEYS[1], #ARGV)
local first = last - #ARGV + 1
for i, spec in ipairs(ARGV) do redis.call('HSET', KEYS[2], 'fault_' .. (first + i - 1), spec) end
redis.call('INCR', KEYS[3])
return first
"""

# KEYS: rules, applied, version. ARGV: rule id, times ("" for no limit).
COUNT_RULE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
if ARGV[2] ~= '' then
  local times = tonumber(ARGV[2])
  if n > times then redis.call('HINCRBY', KEYS[2], ARGV[1], -1) return 0 end
  if n >= times then redis.call('HDEL', KEYS[1], ARGV[1]); redis.call('INCR', KEYS[3]) end
end
return n
"""

# KEYS: scenarios, scenario sequence, version. ARGV: scope, entry (JSON).
ADD_SCENARIO = """
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], seq .. ' ' .. ARGV[2])
redis.call('INCR', KEYS[3])
return seq
"""

# KEYS: replica sequence, seed. ARGV: this replica's seed ("" for none).
JOIN = """
local n = redis.call('INCR', KEYS[1])
if ARGV[1] ~= '' then redis.call('SET', KEYS[2], ARGV[1], 'NX') end
return {n, redis.call('GET', KEYS[2]) or ''}
"""
