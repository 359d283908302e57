// The Lua scripts the runtime state runs in Redis. Each runs atomically: no
// other instance's command comes between its reads and its writes.
//
// Reading is bounded: a hash holding more than MAX_STORED_ENTRIES fields is
// not read at all (the last state read stays in force), and a value over
// MAX_VALUE_BYTES comes back as nil, never as its bytes. Whoever can write
// to Redis cannot make an instance load without limit.

/** Fields a hash may hold to be read: the exception cap and the lapsed ones not yet removed, with room to spare. */
export const MAX_STORED_ENTRIES = 2000;
/** A stored pause or exception is a few hundred bytes (under 5 KB with every text at its longest in 3-byte UTF-8); one over this is not read. */
export const MAX_VALUE_BYTES = 8192;

/** KEYS: the pauses hash, the exceptions hash. ARGV: MAX_STORED_ENTRIES, MAX_VALUE_BYTES. Returns both as flat [field, value|nil, ...] lists. */
export const READ_SCRIPT = `
local most, largest = tonumber(ARGV[1]), tonumber(ARGV[2])
local function read(key)
  local n = redis.call('HLEN', key)
  if n > most then return nil, key .. ' holds ' .. n .. ' fields, over ' .. most end
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if #all[i] > 200 then all[i] = string.sub(all[i], 1, 200) end
    if #all[i + 1] > largest then all[i + 1] = false end
  end
  return all
end
local pauses, why = read(KEYS[1])
if not pauses then return redis.error_reply('TOOLARGE ' .. why) end
local exceptions, why2 = read(KEYS[2])
if not exceptions then return redis.error_reply('TOOLARGE ' .. why2) end
return { pauses, exceptions }
`;

/**
 * Adds one exception unless MAX_EXCEPTIONS are in force already, fleet-wide:
 * the count and the write are one step, so instances adding at the same time
 * cannot overshoot. In force: a readable entry whose expiry is after `now` and
 * within the 90-day horizon (one beyond it is in force nowhere); lapsed ones
 * are removed on the way.
 * KEYS: the exceptions hash. ARGV: id, entry (JSON), now, horizon, the cap,
 * MAX_STORED_ENTRIES, MAX_VALUE_BYTES, the change channel, the change message.
 * Returns 1 (added) or 0 (at the cap).
 */
export const ADD_SCRIPT = `
local now, horizon, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local most, largest = tonumber(ARGV[6]), tonumber(ARGV[7])
local n = redis.call('HLEN', KEYS[1])
if n > most then return redis.error_reply('TOOLARGE ' .. KEYS[1] .. ' holds ' .. n .. ' fields, over ' .. most) end
local all = redis.call('HGETALL', KEYS[1])
local live, lapsed = 0, {}
for i = 1, #all, 2 do
  if #all[i + 1] <= largest then
    local ok, e = pcall(cjson.decode, all[i + 1])
    if ok and type(e) == 'table' and type(e['until']) == 'number' then
      local u = e['until']
      if u <= now then lapsed[#lapsed + 1] = all[i]
      elseif u <= horizon then live = live + 1 end
    end
  end
end
if #lapsed > 0 then redis.call('HDEL', KEYS[1], unpack(lapsed)) end
if live >= cap then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[8], ARGV[9])
return 1
`;
