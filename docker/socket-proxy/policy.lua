-- The Docker API policy of the stt docker-proxy: an allow-list of the calls and containers of the
-- pipeline's step operator (plugins/stt_pipeline/step_operator.py), nothing else. HAProxy parses
-- HTTP (framing, keep-alive, smuggling); this file decides. A refusal is a sentence in the variable
-- txn.refusal, which haproxy.cfg answers with 403.
--
-- Container creation bodies are decoded as Docker's Go decoder reads them: keys matched without
-- regard to case, JSON escapes decoded (lua-cjson). Go keeps the last of duplicated keys and merges
-- duplicated objects, so duplicates (also of different case) are refused rather than guessed.

local cjson = require("cjson.safe")
cjson.decode_invalid_numbers(false) -- NaN, Infinity and hex numbers are not JSON (Go refuses them)
cjson.decode_max_depth(16)

local MAX_BODY = 32768 -- a step's container is ~1.5 kB; haproxy.cfg's buffer holds this whole
local NULL = cjson.null

local function env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then return default end
  return value
end

local function split(text, separator)
  local parts = {}
  for part in text:gmatch("[^" .. separator .. "]+") do parts[#parts + 1] = part end
  return parts
end

-- docker-py's units: "8g" is 8 GiB.
local function bytes_of(size)
  local number, unit = size:lower():match("^(%d+)([bkmg]?)$")
  local scale = {[""] = 1, b = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3}
  return number and tonumber(number) * scale[unit] or 0
end

-- The deployment settings the operator plans containers with (plugins/stt_pipeline/deployment.py),
-- read from the proxy's own environment: never from Airflow, which this policy does not trust.
local S = {
  cpu_image = env("STT_CPU_IMAGE", "stt-tasks-cpu"),
  gpu_image = env("STT_GPU_IMAGE", "stt-tasks-gpu"),
  gpu = ({["1"] = true, ["true"] = true, yes = true, on = true})[env("STT_GPU_ENABLED", "false"):lower()] == true,
  data_dir = env("STT_HOST_DATA_DIR", nil),
  download_network = env("STT_DOWNLOAD_NETWORK", "bridge"),
  shm_bytes = bytes_of(env("STT_SHM_SIZE", "8g")),
  transfer_roots = split(env("STT_TRANSFER_ROOTS", ""), ":"),
  user = "999:999",
}
-- NVIDIA's limits that plan_container asks for on GPUs (-1: unlimited)
local ULIMITS = {memlock = -1, stack = 67108864}

-- ---- values ----

local function is_zero(v)
  return v == nil or v == NULL or v == false or v == 0 or v == "" or (type(v) == "table" and next(v) == nil)
end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local count = 0
  for _ in pairs(v) do count = count + 1 end
  return count == #v
end

local function is_integer(v) return type(v) == "number" and v == math.floor(v) end

-- An absolute path written the way Docker will use it: no empty, "." or ".." segment (a trailing
-- "/" aside, which Docker drops).
local function is_clean_path(path)
  if type(path) ~= "string" then return false end
  path = path:gsub("(.)/$", "%1")
  if path:sub(1, 1) ~= "/" then return false end
  for segment in (path .. "/"):sub(2):gmatch("([^/]*)/") do
    if segment == "" or segment == "." or segment == ".." then return false end
  end
  return true
end

local function is_under(path, root)
  root = root:gsub("/+$", "")
  return root ~= "" and (path == root or path:sub(1, #root + 1) == root .. "/")
end

-- The document with keys in lower case (Go matches them so), or nil and the duplicated key.
local function lowered(value)
  if type(value) ~= "table" then return value end
  local copy = {}
  for key, item in pairs(value) do
    local name = type(key) == "string" and key:lower() or key
    if copy[name] ~= nil then return nil, key end
    local inner, duplicate = lowered(item)
    if inner == nil then return nil, duplicate end
    copy[name] = inner
  end
  return copy
end

local function key_count(value)
  if type(value) ~= "table" then return 0 end
  local count = 0
  for key, item in pairs(value) do count = count + (type(key) == "string" and 1 or 0) + key_count(item) end
  return count
end

-- Every ":" outside strings of a valid JSON text separates one key from its value: fewer keys
-- decoded than that means a key was given twice (the decoder kept the last one).
local function written_key_count(body)
  local outside = body:gsub("\\.", ""):gsub('"[^"]*"', "")
  return select(2, outside:gsub(":", ""))
end

-- ---- field rules: nil when the value is allowed, else why not ----

local function zero(v) if not is_zero(v) then return "not used by the pipeline (must be empty)" end end
-- An empty entrypoint is not the image's: Docker then runs Cmd as the program.
local function null(v) if v ~= NULL then return "must be null (the image's)" end end
local function boolean(v) if type(v) ~= "boolean" then return "must be true or false" end end
local function equals(expected)
  return function(v) if v ~= expected then return "must be " .. tostring(expected) end end
end
local function strings(v)
  if is_zero(v) then return end
  if not is_list(v) then return "must be a list of strings" end
  for _, item in ipairs(v) do if type(item) ~= "string" then return "must be a list of strings" end end
end
local function string_map(v)
  if is_zero(v) then return end
  if type(v) ~= "table" or is_list(v) then return "must be an object of strings" end
  for _, item in pairs(v) do if type(item) ~= "string" then return "must be an object of strings" end end
end
local function size(v) if not is_zero(v) and not (is_integer(v) and v >= 0) then return "must be a size" end end
local function any_object(v) if type(v) ~= "table" or (is_list(v) and next(v)) then return "must be an object" end end
local function list(v) if not is_zero(v) and not is_list(v) then return "must be a list" end end

-- Rules by field name (matched in lower case, as Go does); a field not listed is refused.
local function fields(rules)
  local by_lower = {}
  for name, rule in pairs(rules) do by_lower[name:lower()] = {name = name, check = rule} end
  return by_lower
end

local CONFIG = fields({
  Image = function(v) if v ~= S.cpu_image and v ~= S.gpu_image then return "must be " .. S.cpu_image .. " or " .. S.gpu_image end end,
  User = equals(S.user), Cmd = strings, Env = strings, Labels = string_map,
  AttachStdout = boolean, AttachStderr = boolean, NetworkDisabled = boolean,
  Hostname = zero, Domainname = zero, ExposedPorts = zero, Tty = zero, OpenStdin = zero, StdinOnce = zero,
  AttachStdin = zero, Volumes = zero, Entrypoint = null, WorkingDir = zero, NetworkingConfig = zero,
  MacAddress = zero, StopSignal = zero, Healthcheck = zero, StopTimeout = zero, Runtime = zero,
  HostConfig = any_object,
})
local HOST = fields({
  NetworkMode = function(v) if type(v) ~= "string" then return "must be a string" end end,
  Mounts = list, ShmSize = size, CpuShares = size, Ulimits = list, DeviceRequests = list, LogConfig = any_object,
  PortBindings = zero, AutoRemove = boolean,
})
local LOG = fields({Type = zero, Config = zero})
local MOUNT = fields({
  Type = equals("bind"), Source = function(v) if not is_clean_path(v) then return "must be a clean absolute path" end end,
  Target = function(v) if type(v) ~= "string" then return "must be a path" end end, ReadOnly = boolean,
  Consistency = zero, BindOptions = zero, VolumeOptions = zero, TmpfsOptions = zero,
})
local ULIMIT = fields({
  Name = function(v) if not ULIMITS[v] then return "must be memlock or stack" end end,
  Soft = function(v) if not is_integer(v) then return "must be a number" end end,
  Hard = function(v) if not is_integer(v) then return "must be a number" end end,
})
-- NVIDIA GPUs as plan_container asks for the gpus run parameter: all (Count -1), a count (Count n),
-- or device ids (Count 0 and GPU indices); device_request_refusal checks the combination.
local DEVICE_REQUEST = fields({
  Driver = function(v) if not is_zero(v) and v ~= "nvidia" then return "must be empty or nvidia" end end,
  Count = function(v) if not (is_integer(v) and v >= -1) then return "must be -1 (all GPUs) or a count" end end,
  DeviceIDs = function(v)
    if is_zero(v) then return end
    if not is_list(v) then return "must be a list of GPU indices" end
    for _, id in ipairs(v) do
      if type(id) ~= "string" or not id:match("^%d+$") then return 'must be GPU indices ("0", "2")' end
    end
  end,
  Options = zero,
  Capabilities = function(v)
    if not (is_list(v) and #v == 1 and is_list(v[1]) and #v[1] == 1 and v[1][1] == "gpu") then return 'must be [["gpu"]]' end
  end,
})

-- One request naming GPUs one way: all, a count, or ids (never both a count and ids, never none).
local function device_request_refusal(requests)
  if is_zero(requests) then return end
  if #requests ~= 1 then return "HostConfig.DeviceRequests must be one request" end
  local request = requests[1]
  local count, ids = request.count or 0, not is_zero(request.deviceids)
  if ids and count ~= 0 then return "HostConfig.DeviceRequests[] names GPUs by count and by id: one of them" end
  if not ids and count == 0 then return "HostConfig.DeviceRequests[] names no GPU" end
end

local function fields_refusal(object, rules, where)
  if type(object) ~= "table" or (is_list(object) and next(object)) then return where .. " must be an object" end
  for key, value in pairs(object) do
    local rule = rules[key]
    if not rule then return "field " .. where .. "." .. key .. " is not one the pipeline uses" end
    local why = rule.check(value)
    if why then return "field " .. where .. "." .. rule.name .. " " .. why end
  end
end

local function each_refusal(items, rules, where)
  for _, item in ipairs(is_zero(items) and {} or items) do
    local why = fields_refusal(item, rules, where)
    if why then return why end
  end
end

-- ---- the containers of the pipeline ----

-- The data root at /mnt, and for training at most one read-only transfer checkpoint under
-- STT_TRANSFER_ROOTS. Returns why not, or nil and whether a transfer checkpoint is mounted.
local function mounts_refusal(mounts)
  local data, transfer = 0, 0
  for _, mount in ipairs(is_zero(mounts) and {} or mounts) do
    if mount.target == "/mnt" then
      data = data + 1
      if mount.source ~= S.data_dir then return "the mount at /mnt must be STT_HOST_DATA_DIR (" .. tostring(S.data_dir) .. ")" end
    elseif mount.target == "/transfer-checkpoint" then
      transfer = transfer + 1
      if mount.readonly ~= true then return "the transfer checkpoint must be mounted read-only" end
      local allowed = false
      for _, root in ipairs(S.transfer_roots) do allowed = allowed or is_under(mount.source, root) end
      if not allowed then return "the transfer checkpoint " .. mount.source .. " is not under STT_TRANSFER_ROOTS" end
    else
      return "mount target " .. tostring(mount.target) .. ": only /mnt and /transfer-checkpoint"
    end
  end
  if data ~= 1 then return "the data root must be mounted at /mnt, once" end
  if transfer > 1 then return "at most one transfer checkpoint" end
  return nil, transfer == 1
end

local function create_refusal(body)
  local decoded = cjson.decode(body)
  if type(decoded) ~= "table" then return "the body is not a JSON object" end
  if written_key_count(body) ~= key_count(decoded) then return "a key is given twice" end
  local doc, duplicate = lowered(decoded)
  if not doc then return "key " .. duplicate .. " is given twice (Docker ignores the case of keys)" end
  local host = doc.hostconfig or {}
  local why = fields_refusal(doc, CONFIG, "Config") or fields_refusal(host, HOST, "HostConfig")
    or fields_refusal(host.logconfig or {}, LOG, "HostConfig.LogConfig")
    or each_refusal(host.mounts, MOUNT, "HostConfig.Mounts[]") or each_refusal(host.ulimits, ULIMIT, "HostConfig.Ulimits[]")
    or each_refusal(host.devicerequests, DEVICE_REQUEST, "HostConfig.DeviceRequests[]")
    or device_request_refusal(host.devicerequests)
  if why then return why end
  if doc.user ~= S.user then return "field Config.User must be " .. S.user end
  if is_zero(doc.image) then return "field Config.Image must be " .. S.cpu_image end
  local transfer
  why, transfer = mounts_refusal(host.mounts)
  if why then return why end
  -- The kind of step: training containers are the only ones with shared memory, a transfer
  -- checkpoint or GPUs; downloads the only ones with a network.
  local gpu = not is_zero(host.devicerequests) or not is_zero(host.ulimits)
  local training = transfer or gpu or not is_zero(host.shmsize)
  local network = host.networkmode
  if network ~= "none" and (network ~= S.download_network or training or network == "host" or network:find(":")) then
    return "field HostConfig.NetworkMode must be none, or " .. S.download_network .. " for a download step"
  end
  if gpu and not S.gpu then return "GPUs and ulimits only with STT_GPU_ENABLED" end
  if gpu and doc.image ~= S.gpu_image then return "GPU training runs in " .. S.gpu_image end
  if not gpu and doc.image ~= S.cpu_image then return "field Config.Image must be " .. S.cpu_image end
  if (host.shmsize or 0) > S.shm_bytes then return "field HostConfig.ShmSize is over STT_SHM_SIZE" end
  for _, ulimit in ipairs(is_zero(host.ulimits) and {} or host.ulimits) do
    local limit = ULIMITS[ulimit.name]
    for _, value in ipairs({ulimit.soft, ulimit.hard}) do
      if limit ~= -1 and (value < 0 or value > limit) then return "ulimit " .. ulimit.name .. " over " .. limit end
    end
  end
end

-- ---- endpoints ----

local function no_query(query) if query ~= "" then return "no query parameters" end end
local function name_only(query)
  if query ~= "" and not query:match("^name=[%w][%w_.-]*$") then return "only a container name (name=...)" end
end
local function label_filter(query)
  if not query:lower():find("filters=%7b%22label%22", 1, true) then return "only a list filtered by labels" end
end

local CONTAINER = "/containers/[%w][%w_.-]*"
-- method, path pattern (after the /v1.NN version), query check, whether it takes a body.
local ENDPOINTS = {
  {"GET", "/_ping"}, {"HEAD", "/_ping"}, {"GET", "/version"},
  {"GET", "/images/json"}, {"GET", "/images/[%w][%w_.:/@-]*/json"},
  {"GET", "/containers/json", label_filter},
  {"POST", "/containers/create", name_only, create_refusal},
  {"POST", CONTAINER .. "/attach"}, {"POST", CONTAINER .. "/start", no_query}, {"POST", CONTAINER .. "/wait"},
  {"POST", CONTAINER .. "/kill"}, {"POST", CONTAINER .. "/stop"},
  {"GET", CONTAINER .. "/json"}, {"GET", CONTAINER .. "/logs"}, {"DELETE", CONTAINER},
}

local function endpoint_of(method, path)
  for _, endpoint in ipairs(ENDPOINTS) do
    if method == endpoint[1] and path:match("^" .. endpoint[2] .. "$") then return endpoint end
  end
end

local function refusal(txn)
  local method, path, query = txn.sf:method(), txn.sf:path() or "", txn.sf:query() or ""
  if path:find("%", 1, true) or ("/" .. path .. "/"):find("/%.%.?/") then
    return "unusual path " .. path .. " (percent-encoding or dot segments)"
  end
  -- API versions before 1.24 let /start change the host config, and unversioned calls are not
  -- what docker-py sends (but /version, when it negotiates)
  local major, minor, rest = path:match("^/v(%d+)%.(%d+)(/.*)$")
  if not major and path ~= "/version" and path ~= "/_ping" then return "an API version (/v1.40 or newer) is required" end
  if major and (tonumber(major) ~= 1 or tonumber(minor) < 40) then return "API versions before 1.40 are refused" end
  local endpoint = endpoint_of(method, rest or path)
  if not endpoint then return method .. " " .. path .. " is not a call of the pipeline's step operator" end
  if txn.f:req_hdr_cnt("transfer-encoding") > 0 then return "chunked bodies are refused" end
  local length = txn.f:req_hdr_cnt("content-length") == 0 and 0 or tonumber(txn.sf:req_hdr("content-length"))
  if not length then return "bad Content-Length" end
  local why = endpoint[3] and endpoint[3](query)
  if why then return method .. " " .. path .. ": " .. why end
  if not endpoint[4] then
    if length > 0 then return method .. " " .. path .. " takes no body" end
    return nil
  end
  if length > MAX_BODY then return "bodies over " .. MAX_BODY .. " bytes are refused" end
  local body = txn.sf:req_body() or ""
  if #body ~= length then return "the body did not arrive whole" end
  why = endpoint[4](body)
  if why then return "container refused: " .. why end
end

core.register_action("docker_policy", {"http-req"}, function(txn)
  local ok, why = pcall(refusal, txn)
  if not ok then why = "the request does not fit the policy (" .. tostring(why):gsub("^.-:%d+: ", "") .. ")" end
  if why then txn:set_var("txn.refusal", why) end
end, 0)
