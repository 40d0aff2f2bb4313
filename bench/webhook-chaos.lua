-- wrk script of bench/webhook-chaos.sh (which sets the CHAOS_* variables): POSTs pod
-- AdmissionReviews at a steady rate and checks every answer.
--
-- One connection per wrk thread (-tN -cN), so a thread's answers come in the order of its
-- requests. Threads 1..CHAOS_UNCACHED_CONNS name a tag never asked before (":u<n>" of one
-- of the images: the webhook must ask the registry); the others name the images' cached
-- tag (":1"), but every CHAOS_BAD_EVERY-th of theirs is bad input (an AdmissionReview cut
-- in half: the webhook must answer 400). Each thread paces itself to its share of
-- CHAOS_RATE (request i sent at start + i x interval: delay() waits for that instant, and
-- after a stall it goes on from now instead of bursting), and every CHAOS_CLOSE_EVERY-th
-- request says "Connection: close", so new TLS handshakes happen all along (certificate
-- rotation).
--
-- Every request and every answer is a line in CHAOS_RECORDS/t<thread>, for the script:
--   S <uid> <sent, epoch us> <image index, 0 for bad input> <c|u|b>
--   R <uid> <answered, epoch us> <HTTP status> <class>
-- class: aff (the patch is this image's affinity, as the warm-up answer had it), none
-- (allowed, no affinity in the patch), wrong (an affinity other than the image's: the
-- decoded patch is written to CHAOS_RECORDS/wrong), denied, bad (no AdmissionReview with
-- a uid), mismatch (the uid of another request), http<status> when not 200; for bad
-- input: rejected (400), accepted (200: a wrong answer) or http<status>.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } chaos_timespec;
int clock_gettime(int clock, chaos_timespec* t);
]]
local timespec = ffi.new("chaos_timespec")
local function now_us()
  ffi.C.clock_gettime(0, timespec) -- CLOCK_REALTIME: the script's phase marks use `date`
  return tonumber(timespec.tv_sec) * 1e6 + tonumber(timespec.tv_nsec) / 1e3
end

local images = { "amd64", "arm64", "multi" }
local registry = os.getenv("CHAOS_REGISTRY")
local records = os.getenv("CHAOS_RECORDS")
local conns = tonumber(os.getenv("CHAOS_CONNS"))
local uncached_conns = tonumber(os.getenv("CHAOS_UNCACHED_CONNS"))
local rate = tonumber(os.getenv("CHAOS_RATE"))
local uncached_rate = tonumber(os.getenv("CHAOS_UNCACHED_RATE"))
local close_every = tonumber(os.getenv("CHAOS_CLOSE_EVERY"))
local bad_every = tonumber(os.getenv("CHAOS_BAD_EVERY"))
local expected = {}
for i = 1, #images do expected[i] = os.getenv("CHAOS_PATCH_" .. i) end

local template
do
  local f = assert(io.open(os.getenv("CHAOS_TEMPLATE"), "rb"))
  template = f:read("*a")
  f:close()
end

local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local out, uncached, interval, next_due, seq, last_uid, last_image, last_kind
function init(args)
  out = assert(io.open(records .. "/t" .. id, "w"))
  out:setvbuf("line")
  uncached = id <= uncached_conns
  if uncached then
    interval = uncached_conns * 1e6 / uncached_rate
  else
    interval = (conns - uncached_conns) * 1e6 / (rate - uncached_rate)
  end
  math.randomseed(id)
  next_due = now_us() + math.random() * interval -- spread the threads' first requests
  seq = 0
end

function delay()
  local now = now_us()
  next_due = next_due + interval
  if next_due < now - interval then next_due = now end
  local wait_ms = (next_due - now) / 1000
  return wait_ms > 0 and wait_ms or 0
end

function request()
  seq = seq + 1
  local image, kind
  if uncached then
    local n = (id - 1) + (seq - 1) * uncached_conns -- distinct over all uncached threads
    last_image = n % #images + 1
    image = registry .. "/chaos/" .. images[last_image] .. ":u" .. math.floor(n / #images)
    kind = "u"
  elseif seq % bad_every == 0 then
    last_image = 0
    kind = "b"
  else
    last_image = (seq + id) % #images + 1
    image = registry .. "/chaos/" .. images[last_image] .. ":1"
    kind = "c"
  end
  last_uid = id .. "-" .. seq
  local body
  if kind == "b" then
    body = template:gsub("@UID@", last_uid):sub(1, math.floor(#template / 2))
  else
    body = template:gsub("@UID@", last_uid):gsub("@IMAGE@", image)
  end
  last_kind = kind
  local headers = { ["Content-Type"] = "application/json" }
  if seq % close_every == 0 then headers["Connection"] = "close" end
  out:write(string.format("S %s %.0f %d %s\n", last_uid, now_us(), last_image, kind))
  return wrk.format("POST", "/mutate?timeout=" .. os.getenv("CHAOS_TIMEOUT"), headers, body)
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local sextet = {}
for i = 1, #alphabet do sextet[alphabet:byte(i)] = i - 1 end
local function base64_decode(text)
  local bytes, bits, count = {}, 0, 0
  for i = 1, #text do
    local v = sextet[text:byte(i)]
    if v then
      bits = bits * 64 + v
      count = count + 6
      if count >= 8 then
        count = count - 8
        local byte = math.floor(bits / 2 ^ count)
        bytes[#bytes + 1] = string.char(byte)
        bits = bits - byte * 2 ^ count
      end
    end
  end
  return table.concat(bytes)
end

function response(status, headers, body)
  local answered = now_us()
  local class
  local uid = body:match('"uid"%s*:%s*"([^"]*)"')
  if last_kind == "b" then
    class = status == 400 and "rejected" or (status == 200 and "accepted" or "http" .. status)
  elseif status ~= 200 then
    class = "http" .. status
  elseif uid == nil then
    class = "bad"
  elseif uid ~= last_uid then
    class = "mismatch"
  elseif body:match('"allowed"%s*:%s*(%a+)') ~= "true" then
    class = "denied"
  else
    local patch = body:match('"patch"%s*:%s*"([^"]*)"')
    if patch == nil then
      class = "none"
    elseif patch == expected[last_image] then
      class = "aff"
    else
      local decoded = base64_decode(patch)
      if decoded:find("kubernetes.io/arch", 1, true) then
        class = "wrong"
        local f = io.open(records .. "/wrong", "a")
        f:write(last_uid .. " " .. images[last_image] .. " " .. decoded .. "\n")
        f:close()
      else
        class = "none" -- a patch without affinity (annotations only)
      end
    end
  end
  if class == "none" then -- for a look afterwards (KEEP=1): why no affinity
    local f = io.open(records .. "/none", "a")
    f:write(last_uid .. " " .. body:sub(1, 800) .. "\n")
    f:close()
  end
  out:write(string.format("R %s %.0f %d %s\n", last_uid, answered, status, class))
end
