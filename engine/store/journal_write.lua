-- A shard's journal write, in one round trip: checks the writer's epoch (KEYS[1]), then runs
-- the operations in ARGV[2:] in order. An append `a, <entry id>, <entry>, <events or ''>,
-- <events maxlen>` adds the entry to the journal (KEYS[2]) and the events to the events stream
-- (KEYS[3]); a snapshot `s, <first id kept>, <snapshot>` writes KEYS[4] and trims the journal
-- before the id.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
local i = 2
while i <= #ARGV do
  if ARGV[i] == 'a' then
    redis.call('XADD', KEYS[2], ARGV[i + 1], 'd', ARGV[i + 2])
    if ARGV[i + 3] ~= '' then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[i + 4], '*', 'd', ARGV[i + 3])
    end
    i = i + 5
  elseif ARGV[i] == 's' then
    redis.call('SET', KEYS[4], ARGV[i + 2])
    redis.call('XTRIM', KEYS[2], 'MINID', ARGV[i + 1])
    i = i + 3
  else
    return redis.error_reply('unknown journal operation ' .. ARGV[i])
  end
end
return 1
