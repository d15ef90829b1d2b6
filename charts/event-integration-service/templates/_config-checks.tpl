{{/* ----------------------------------------------------------------------------------------------------------
What the service refuses at start that values.schema.json cannot see: relations between variables, a role's
variables as the pods get them (`config` with `<role>.config` over it), and the single values whose rule is more than
a pattern states (HOST, TRUST_PROXY and ingress.trustProxy, PAYPAL_CERT_HOSTS, below). Checked here so such values
fail the install with a message instead of crash-looping the pods with exit 78. The other single values (ranges,
digits, enums) are in the schema's `definitions.config`.
---------------------------------------------------------------------------------------------------------- */}}

{{/* The longest delay Node's timers honour (MAX_TIMER_MS in services/shared/config/config-schema.ts). */}}
{{- define "eis.maxTimerMs" -}}2147483647{{- end -}}

{{/* A whole-number variable of a merged config, as an int, read as the service reads it: the blanks trim() strips
around it ignored (Go's trim keeps U+FEFF), decimal even with leading zeros (`int` would read `030000` as octal);
`fallback` (the service's default) when unset or blank. The schema has already refused anything but decimal digits.
Call with (dict "config" $config "name" "X" "fallback" 8). */}}
{{- define "eis.configInt" -}}
{{- $value := "" -}}
{{- if hasKey .config .name -}}{{- $value = include "eis.jsTrim" (include "eis.envValue" (get .config .name)) -}}{{- end -}}
{{- if regexMatch "^[0-9]+$" $value -}}{{- atoi $value -}}{{- else -}}{{- .fallback -}}{{- end -}}
{{- end -}}

{{/*
JOB_ATTEMPTS with JOB_BACKOFF_MS: the backoff doubles with each attempt, so the last retry comes JOB_BACKOFF_MS ×
2^(JOB_ATTEMPTS − 2) after the one before, which the service holds to 2147483647 ms (retryScheduleProblem in
services/shared/config/config.ts): each role, and the migration Job, which runs on `config` alone, refuses to start
beyond it. Call with (dict "config" $config "where" "the worker role (config, worker.config)").
*/}}
{{- define "eis.checkRetrySchedule" -}}
{{- $max := include "eis.maxTimerMs" . | int64 -}}
{{- $attempts := include "eis.configInt" (dict "config" .config "name" "JOB_ATTEMPTS" "fallback" 8) | int64 -}}
{{- $backoff := include "eis.configInt" (dict "config" .config "name" "JOB_BACKOFF_MS" "fallback" 1000) | int64 -}}
{{- if and (ge $attempts 2) (ge $backoff 1) -}}
{{- $gap := $backoff -}}
{{- $most := 1 -}}
{{- /* Doubling at most 32 times: 2^31 ms is already past the bound, so no int64 overflows. */ -}}
{{- range $doubling := until 32 -}}
{{- if le $gap $max -}}{{- $most = add $doubling 2 -}}{{- end -}}
{{- $gap = mul $gap 2 -}}
{{- end -}}
{{- if gt $attempts (int64 $most) -}}
{{- fail (printf "%s: JOB_ATTEMPTS=%d with JOB_BACKOFF_MS=%d puts the last retry JOB_BACKOFF_MS × 2^(JOB_ATTEMPTS − 2) ms after the one before (the backoff doubles with each attempt), over %d ms (about 24.8 days): the service refuses to start, as a failing event would stay FAILED instead of reaching DEAD_LETTER. At most %d attempts with this backoff" .where $attempts $backoff $max $most) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
DATABASE_POOL_SIZE of the worker role: at least 3 (MIN_WORKER_POOL_SIZE in services/shared/config/config.ts), as the
reconciler's and the retention's passes each hold a connection for their whole pass. The ingress, and the migration
Job, take any size.
*/}}
{{- define "eis.checkWorkerPoolSize" -}}
{{- $size := include "eis.configInt" (dict "config" .config "name" "DATABASE_POOL_SIZE" "fallback" 20) | int -}}
{{- if lt $size 3 -}}
{{- fail (printf "%s: DATABASE_POOL_SIZE=%d, the worker needs at least 3: the reconciler's and the retention's passes each hold a connection for their whole pass, and claims, claim heartbeats and finishes need one meanwhile (the service refuses to start)" .where $size) -}}
{{- end -}}
{{- end -}}

{{/* Every check above, for each process the chart runs. Included by eis.validate. */}}
{{- define "eis.checkConfig" -}}
{{- range $role := list "ingress" "worker" -}}
{{- $config := include "eis.roleConfig" (dict "root" $ "role" $role) | fromJson -}}
{{- $where := printf "the %s role (config, with %s.config over it)" $role $role -}}
{{- $own := dict -}}
{{- with (get $.Values $role) -}}{{- $own = .config | default dict -}}{{- end -}}
{{- include "eis.checkSingleValues" (dict "config" $config "prefix" (printf "%s.config" $role) "roleConfig" $own) -}}
{{- include "eis.checkRetrySchedule" (dict "config" $config "where" $where) -}}
{{- if eq $role "ingress" -}}
{{- /* ingress.trustProxy (or the chart's default for its Ingress) is the ingress's TRUST_PROXY unless a config sets one. */ -}}
{{- $trustProxy := include "eis.trustProxy" $ -}}
{{- if and (not (hasKey $config "TRUST_PROXY")) (not (regexMatch (printf "^%s*$" (include "eis.jsBlank" dict)) $trustProxy)) -}}
{{- with include "eis.trustProxyProblem" $trustProxy -}}
{{- fail (printf "ingress.trustProxy=%s: %s (expected true, false, a hop count, or comma-separated IP addresses, subnets (10.0.0.0/8) and loopback, linklocal, uniquelocal); the service refuses to start with it" (toJson $trustProxy) .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $role "worker" -}}{{- include "eis.checkWorkerPoolSize" (dict "config" $config "where" $where) -}}{{- end -}}
{{- end -}}
{{- if .Values.migrations.enabled -}}
{{- include "eis.checkSingleValues" (dict "config" (.Values.config | default dict) "prefix" "config" "roleConfig" dict) -}}
{{- include "eis.checkRetrySchedule" (dict "config" (.Values.config | default dict) "where" "the migration Job (config)") -}}
{{- end -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Single values whose rule no JSON-schema pattern can state exactly: TRUST_PROXY (ipaddr.js's address notations, with
hex and octal parts, and subnet masks) and PAYPAL_CERT_HOSTS (the WHATWG URL host parser). Each follows the service's
own parser step by step, so a value fails here exactly when the pods would exit 78 with it.
---------------------------------------------------------------------------------------------------------- */}}

{{/* What JavaScript's trim() strips (WhiteSpace and LineTerminator), as an RE2 class: `\s` is only [\t\n\f\r ]. */}}
{{- define "eis.jsBlank" -}}[\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}]{{- end -}}

{{/* A string with what trim() strips removed from both ends. */}}
{{- define "eis.jsTrim" -}}
{{- $blank := include "eis.jsBlank" dict -}}
{{- regexReplaceAll (printf "^%s+|%s+$" $blank $blank) . "" -}}
{{- end -}}

{{/* A number written in `digits` of base 8, 10 or 16 (no prefix), as decimal text; "4294967296" (2^32, past every
bound the callers check) when it has more digits than any such bound. */}}
{{- define "eis.digitsValue" -}}
{{- $digits := regexReplaceAll "^0+" .digits "" -}}
{{- $longest := get (dict "8" 11 "10" 10 "16" 8) (toString .base) -}}
{{- if eq $digits "" -}}0
{{- else if gt (len $digits) (int $longest) -}}4294967296
{{- else if eq (toString .base) "16" -}}{{- printf "0x%s" $digits | int64 -}}
{{- else if eq (toString .base) "8" -}}{{- printf "0%s" $digits | int64 -}}
{{- else -}}{{- $digits | int64 -}}
{{- end -}}
{{- end -}}

{{/* One part of an ipaddr.js IPv4 address (`\d+` or `0x` and hex digits), valued as its parseIntAuto does: `0x…`
is hex, any other part starting with 0 is octal up to its first non-octal digit (`09` is 0, `0X1F` is 0), else
decimal. */}}
{{- define "eis.ipaddrJsPart" -}}
{{- if hasPrefix "0x" . -}}{{- include "eis.digitsValue" (dict "digits" (trimPrefix "0x" .) "base" 16) -}}
{{- else if hasPrefix "0" . -}}{{- include "eis.digitsValue" (dict "digits" (regexFind "^0[0-7]*" .) "base" 8) -}}
{{- else -}}{{- include "eis.digitsValue" (dict "digits" . "base" 10) -}}
{{- end -}}
{{- end -}}

{{/* ipaddr.js 1.x IPv4.parser and its octet check: a JSON list of the four octets, or "" when it is no address. */}}
{{- define "eis.ipaddrJsIPv4" -}}
{{- $part := `(\d+|0[xX][0-9a-fA-F]+)` -}}
{{- $octets := list -}}
{{- if regexMatch (printf `^%s\.%s\.%s\.%s$` $part $part $part $part) . -}}
{{- range splitList "." . -}}{{- $octets = append $octets (include "eis.ipaddrJsPart" . | int64) -}}{{- end -}}
{{- else if regexMatch (printf "^%s$" $part) . -}}
{{- $value := include "eis.ipaddrJsPart" . | int64 -}}
{{- if le $value 4294967295 -}}
{{- $octets = list (div $value 16777216) (mod (div $value 65536) 256) (mod (div $value 256) 256) (mod $value 256) -}}
{{- end -}}
{{- end -}}
{{- $valid := eq (len $octets) 4 -}}
{{- range $octets -}}{{- if gt (int64 .) 255 -}}{{- $valid = false -}}{{- end -}}{{- end -}}
{{- if $valid -}}{{- toJson $octets -}}{{- end -}}
{{- end -}}

{{/* ipaddr.js 1.x expandIPv6: (dict "s" address "parts" 8|6), a JSON list of the 16-bit parts, or "" (null, or a
part that is no hex number). */}}
{{- define "eis.ipaddrJsExpand" -}}
{{- $s := .s -}}
{{- if not (or (contains ":::" $s) (gt (len (regexFindAll "::" $s -1)) 1)) -}}
{{- $zone := regexFind "(?i)%[0-9a-z]+" $s -}}
{{- if $zone -}}{{- $s = regexReplaceAll "%.+$" $s "" -}}{{- end -}}
{{- $colons := len (regexFindAll ":" $s -1) -}}
{{- if hasPrefix "::" $s -}}{{- $colons = sub $colons 1 -}}{{- end -}}
{{- if hasSuffix "::" $s -}}{{- $colons = sub $colons 1 -}}{{- end -}}
{{- if le $colons (int .parts) -}}
{{- $s = replace "::" (printf ":%s" (repeat (int (sub (int .parts) $colons)) "0:")) $s | trimPrefix ":" | trimSuffix ":" -}}
{{- $parts := list -}}
{{- $valid := true -}}
{{- range splitList ":" $s -}}
{{- if regexMatch "^[0-9a-fA-F]+$" . -}}{{- $parts = append $parts (include "eis.digitsValue" (dict "digits" . "base" 16) | int64) -}}{{- else -}}{{- $valid = false -}}{{- end -}}
{{- end -}}
{{- if $valid -}}{{- toJson $parts -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* ipaddr.js 1.x IPv6.parser and its part checks: a JSON list of the eight 16-bit parts, or "" when it is no
address. */}}
{{- define "eis.ipaddrJsIPv6" -}}
{{- $parts := list -}}
{{- if contains ":" . -}}
{{- $v6 := `(?:[0-9a-fA-F]+::?)+` -}}
{{- $v4 := `(\d+|0[xX][0-9a-fA-F]+)` -}}
{{- $transitional := printf `^((?:%s)|(?:::)(?:%s)?)%s\.%s\.%s\.%s(%%[0-9a-zA-Z]+)?$` $v6 $v6 $v4 $v4 $v4 $v4 -}}
{{- if regexMatch (printf `^(::)?(%s)?([0-9a-fA-F]+)?(::)?(%%[0-9a-zA-Z]+)?$` $v6) . -}}
{{- with include "eis.ipaddrJsExpand" (dict "s" . "parts" 8) -}}{{- $parts = fromJsonArray . -}}{{- end -}}
{{- else if regexMatch $transitional . -}}
{{- $prefix := regexReplaceAll $transitional . "${1}" | trimSuffix ":" -}}
{{- $expanded := include "eis.ipaddrJsExpand" (dict "s" (printf "%s%s" $prefix (regexReplaceAll $transitional . "${6}")) "parts" 6) -}}
{{- if $expanded -}}
{{- $octets := list -}}
{{- range $group := list "${2}" "${3}" "${4}" "${5}" -}}
{{- $text := regexReplaceAll $transitional $ $group -}}
{{- /* parseInt without a radix: 0x/0X is hex, anything else decimal (leading zeros included). */ -}}
{{- if regexMatch "^0[xX]" $text -}}{{- $octets = append $octets (include "eis.digitsValue" (dict "digits" (substr 2 -1 $text) "base" 16) | int64) -}}
{{- else -}}{{- $octets = append $octets (include "eis.digitsValue" (dict "digits" $text "base" 10) | int64) -}}{{- end -}}
{{- end -}}
{{- $inRange := true -}}
{{- range $octets -}}{{- if gt . 255 -}}{{- $inRange = false -}}{{- end -}}{{- end -}}
{{- if $inRange -}}
{{- $parts = concat (fromJsonArray $expanded) (list (add (mul (index $octets 0) 256) (index $octets 1)) (add (mul (index $octets 2) 256) (index $octets 3))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $valid := eq (len $parts) 8 -}}
{{- range $parts -}}{{- if gt (int64 .) 65535 -}}{{- $valid = false -}}{{- end -}}{{- end -}}
{{- if $valid -}}{{- toJson $parts -}}{{- end -}}
{{- end -}}

{{/* ipaddr.js 1.x parse: {"kind": "ipv6", "parts": [...]} or {"kind": "ipv4", "octets": [...]} as JSON, or "" when
isValid is false. IPv6 is tried first, as ipaddr.parse does. */}}
{{- define "eis.ipaddrJs" -}}
{{- with include "eis.ipaddrJsIPv6" . -}}{{- dict "kind" "ipv6" "parts" (fromJsonArray .) | toJson -}}
{{- else -}}{{- with include "eis.ipaddrJsIPv4" . -}}{{- dict "kind" "ipv4" "octets" (fromJsonArray .) | toJson -}}{{- end -}}
{{- end -}}
{{- end -}}

{{/* ipaddr.js 1.x prefixLengthFromSubnetMask: the prefix length of a contiguous IPv4 mask's octets, or -1. */}}
{{- define "eis.maskPrefixLength" -}}
{{- $zeros := dict "0" 8 "128" 7 "192" 6 "224" 5 "240" 4 "248" 3 "252" 2 "254" 1 "255" 0 -}}
{{- $cidr := 0 -}}
{{- $stop := false -}}
{{- $valid := true -}}
{{- range $i := list 3 2 1 0 -}}
{{- $octet := toString (int64 (index $.octets $i)) -}}
{{- if hasKey $zeros $octet -}}
{{- $z := int (get $zeros $octet) -}}
{{- if and $stop (ne $z 0) -}}{{- $valid = false -}}{{- end -}}
{{- if ne $z 8 -}}{{- $stop = true -}}{{- end -}}
{{- $cidr = add $cidr $z -}}
{{- else -}}{{- $valid = false -}}{{- end -}}
{{- end -}}
{{- if $valid -}}{{- sub 32 $cidr -}}{{- else -}}-1{{- end -}}
{{- end -}}

{{/* proxy-addr 2.x parseipNotation: why it throws for one address or subnet, or "". */}}
{{- define "eis.proxyNotationProblem" -}}
{{- $note := . -}}
{{- $address := $note -}}
{{- $range := "" -}}
{{- $hasRange := contains "/" $note -}}
{{- if $hasRange -}}
{{- $address = regexReplaceAll "/[^/]*$" $note "" -}}
{{- $range = regexReplaceAll "^.*/" $note "" -}}
{{- end -}}
{{- $ip := include "eis.ipaddrJs" $address -}}
{{- if not $ip -}}invalid IP address: {{ $address }}
{{- else -}}
{{- $ip = fromJson $ip -}}
{{- $max := 128 -}}
{{- if eq $ip.kind "ipv4" -}}{{- $max = 32 -}}
{{- else if not $hasRange -}}
{{- /* An IPv4-mapped IPv6 address without a range is stored as IPv4. */ -}}
{{- $p := $ip.parts -}}
{{- if and (eq (int64 (index $p 0)) 0) (eq (int64 (index $p 1)) 0) (eq (int64 (index $p 2)) 0) (eq (int64 (index $p 3)) 0) (eq (int64 (index $p 4)) 0) (eq (int64 (index $p 5)) 65535) -}}{{- $max = 32 -}}{{- end -}}
{{- end -}}
{{- $bits := $max -}}
{{- if $hasRange -}}
{{- $bits = -1 -}}
{{- if regexMatch "^[0-9]+$" $range -}}{{- $bits = include "eis.digitsValue" (dict "digits" $range "base" 10) | int64 -}}
{{- else if eq $ip.kind "ipv4" -}}
{{- with include "eis.ipaddrJs" $range -}}
{{- $mask := fromJson . -}}
{{- if eq $mask.kind "ipv4" -}}{{- $bits = include "eis.maskPrefixLength" $mask | int64 -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if or (le (int64 $bits) 0) (gt (int64 $bits) (int64 $max)) -}}invalid range on address: {{ $note }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* trustProxyProblem (services/shared/config/trust-proxy.ts): why Express would refuse this TRUST_PROXY, or "". */}}
{{- define "eis.trustProxyProblem" -}}
{{- $value := . -}}
{{- if not (or (eq $value "true") (eq $value "false") (regexMatch "^[0-9]+$" $value)) -}}
{{- $entries := list -}}
{{- range splitList "," $value -}}{{- $entries = append $entries (include "eis.jsTrim" .) -}}{{- end -}}
{{- if has "" $entries -}}empty entry in the comma-separated list
{{- else -}}
{{- $problem := "" -}}
{{- range $entries -}}
{{- if and (not $problem) (not (has . (list "loopback" "linklocal" "uniquelocal"))) -}}{{- $problem = include "eis.proxyNotationProblem" . -}}{{- end -}}
{{- end -}}
{{- $problem -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The WHATWG URL parser's IPv4 number parser: the value of one dot-separated part (`0x…` hex, `0…` octal, else
decimal; `0x` alone is 0), or -1 for failure. */}}
{{- define "eis.urlIPv4Number" -}}
{{- if eq . "" -}}-1
{{- else if regexMatch "^0[xX][0-9a-fA-F]*$" . -}}{{- include "eis.digitsValue" (dict "digits" (substr 2 -1 .) "base" 16) -}}
{{- else if regexMatch "^0[0-7]+$" . -}}{{- include "eis.digitsValue" (dict "digits" . "base" 8) -}}
{{- else if regexMatch "^(0|[1-9][0-9]*)$" . -}}{{- include "eis.digitsValue" (dict "digits" . "base" 10) -}}
{{- else -}}-1
{{- end -}}
{{- end -}}

{{/* The WHATWG URL parser's IPv4 parser, for a host whose last label is a number: "ok" or "failure". */}}
{{- define "eis.urlIPv4" -}}
{{- $parts := splitList "." . -}}
{{- if and (gt (len $parts) 1) (eq (last $parts) "") -}}{{- $parts = initial $parts -}}{{- end -}}
{{- $ok := le (len $parts) 4 -}}
{{- if $ok -}}
{{- range $i, $part := $parts -}}
{{- $n := include "eis.urlIPv4Number" $part | int64 -}}
{{- if lt $n 0 -}}{{- $ok = false -}}
{{- else if and (lt (add $i 1) (len $parts)) (gt $n 255) -}}{{- $ok = false -}}
{{- else if and (eq (add $i 1) (len $parts)) (ge $n (int64 (index (list 0 4294967296 16777216 65536 256) (len $parts)))) -}}{{- $ok = false -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $ok -}}ok{{- else -}}failure{{- end -}}
{{- end -}}

{{/*
parseCertHosts (services/shared/config/paypal-cert-hosts.ts) for one entry, already trimmed and not empty: why it
throws, or "". It parses `https://` + the entry (without a leading `*.`) with the WHATWG URL parser, whose steps for
a host and port are followed here for ASCII. IDNA (UTS #46) is left to the pods, and the entry taken here, for a
host with a character past ASCII (written, or %-escaped) and for an `xn--` label's Punycode: the chart never refuses
an entry the service takes.
*/}}
{{- define "eis.certHostProblem" -}}
{{- $entry := . -}}
{{- $problem := "" -}}
{{- if or (regexMatch `[/?#@\\]` $entry) (hasSuffix ":" $entry) -}}
{{- $problem = "expected host or host:port" -}}
{{- else -}}
{{- $wildcard := hasPrefix "*." $entry -}}
{{- /* The URL parser strips C0 controls and spaces from the ends, then tabs and newlines everywhere. */ -}}
{{- $input := $entry -}}
{{- if $wildcard -}}{{- $input = trimPrefix "*." $entry -}}{{- end -}}
{{- $input = regexReplaceAll `[\t\n\r]` (regexReplaceAll `[\x00-\x20]+$` $input "") "" -}}
{{- /* The host ends at the first colon outside brackets. */ -}}
{{- $host := regexFind `^(?:[^:\[]|\[[^\]]*(?:\]|$))*` $input -}}
{{- $port := trimPrefix ":" (substr (len $host) -1 $input) -}}
{{- if eq $host "" -}}{{- $problem = "expected host or host:port" -}}
{{- else if not (regexMatch "^[0-9]*$" $port) -}}{{- $problem = "expected host or host:port" -}}
{{- else if gt (include "eis.digitsValue" (dict "digits" $port "base" 10) | int64) 65535 -}}{{- $problem = "expected host or host:port" -}}
{{- else if and (ne $port "") (eq (include "eis.digitsValue" (dict "digits" $port "base" 10) | int64) 0) -}}{{- $problem = "port must be 1-65535" -}}
{{- else if hasPrefix "[" $host -}}
{{- /* An IPv6 address, as the URL parser reads one (no zone; IPv4 parts in decimal without leading zeros). */ -}}
{{- $v4 := `(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])){3}` -}}
{{- $s := `[0-9a-fA-F]{1,4}` -}}
{{- $v6 := printf `^\[(?:(?:%[2]s:){7}(?:%[2]s|:)|(?:%[2]s:){6}(?:%[1]s|:%[2]s|:)|(?:%[2]s:){5}(?::%[1]s|(?::%[2]s){1,2}|:)|(?:%[2]s:){4}(?:(?::%[2]s){0,1}:%[1]s|(?::%[2]s){1,3}|:)|(?:%[2]s:){3}(?:(?::%[2]s){0,2}:%[1]s|(?::%[2]s){1,4}|:)|(?:%[2]s:){2}(?:(?::%[2]s){0,3}:%[1]s|(?::%[2]s){1,5}|:)|(?:%[2]s:){1}(?:(?::%[2]s){0,4}:%[1]s|(?::%[2]s){1,6}|:)|(?::(?:(?::%[2]s){0,5}:%[1]s|(?::%[2]s){1,7}|:)))\]$` $v4 $s -}}
{{- if not (regexMatch $v6 $host) -}}{{- $problem = "expected host or host:port" -}}
{{- else if $wildcard -}}{{- $problem = "a *. entry names a domain, not an IP address" -}}
{{- end -}}
{{- else -}}
{{- /* A domain. %XX escapes are decoded in one pass; one of a byte past ASCII (UTF-8), like a character past
ASCII, is left to the pods' IDNA. An ASCII `xn--` label's Punycode is not checked here (the pods take it). */ -}}
{{- $escape := "%[0-7][0-9a-fA-F]" -}}
{{- $pieces := regexSplit $escape $host -1 -}}
{{- $decoded := first $pieces -}}
{{- range $i, $found := regexFindAll $escape $host -1 -}}
{{- $decoded = printf "%s%c%s" $decoded (printf "0x%s" (substr 1 3 $found) | int64) (index $pieces (add $i 1)) -}}
{{- end -}}
{{- $highEscape := "%[89a-fA-F][0-9a-fA-F]" -}}
{{- $plain := regexReplaceAll $highEscape $decoded "" -}}
{{- $ascii := and (eq $plain $decoded) (regexMatch `^[\x00-\x7f]*$` $decoded) -}}
{{- /* Forbidden domain code points, and the C1 controls, which IDNA disallows. */ -}}
{{- /* An xn-- label is Punycode, ASCII by definition. A host past ASCII goes through IDNA, which decodes each xn--
label and refuses one that is not Punycode: certainly one still past ASCII once mapped. Labels split as IDNA splits
them (U+3002, U+FF0E, U+FF61 are dots too). The letters counted are Latin (less the few IDNA maps to ASCII: U+017F,
U+01C7-U+01CC, U+01F1-U+01F3), combining marks, Greek and Cyrillic, which stay past ASCII; other characters (fullwidth
forms, ignorables) may map to ASCII and are left to the pods, as is an ASCII label's Punycode (the pods take it). */ -}}
{{- $punycodePastAscii := false -}}
{{- range regexSplit `[.\x{3002}\x{ff0e}\x{ff61}]` $plain -1 -}}
{{- if and (regexMatch `^[xX][nN]--` .) (regexMatch `[\x{c0}-\x{17e}\x{180}-\x{1c6}\x{1cd}-\x{1f0}\x{1f4}-\x{2af}\x{300}-\x{37d}\x{37f}-\x{52f}]` .) -}}{{- $punycodePastAscii = true -}}{{- end -}}
{{- end -}}
{{- if regexMatch `[\x00-\x20#/:<>?@\[\\\]^|%\x7f\x{80}-\x{9f}]` $plain -}}{{- $problem = "expected host or host:port" -}}
{{- else if $punycodePastAscii -}}{{- $problem = "an xn-- label is Punycode, ASCII only" -}}
{{- else if $ascii -}}
{{- $host = lower $decoded -}}
{{- $labels := splitList "." $host -}}
{{- if and (gt (len $labels) 1) (eq (last $labels) "") -}}{{- $labels = initial $labels -}}{{- end -}}
{{- $lastLabel := last $labels -}}
{{- if or (regexMatch "^[0-9]+$" $lastLabel) (ge (include "eis.urlIPv4Number" $lastLabel | int64) 0) -}}
{{- if eq (include "eis.urlIPv4" $host) "failure" -}}{{- $problem = "expected host or host:port" -}}
{{- else if $wildcard -}}{{- $problem = "a *. entry names a domain, not an IP address" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $problem -}}
{{- end -}}

{{/* isHostName (services/shared/config/config-schema.ts): Node's net.isIP (its IPv4 and IPv6 expressions, zone
included), or a host name of dot-separated labels, at most 253 characters without a final dot, whose last label is
not all digits. "true" or "". */}}
{{- define "eis.isHostName" -}}
{{- $v4Seg := `(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])` -}}
{{- $v4 := printf `(?:%[1]s\.){3}%[1]s` $v4Seg -}}
{{- $s := `(?:[0-9a-fA-F]{1,4})` -}}
{{- $v6 := printf `^(?:(?:%[2]s:){7}(?:%[2]s|:)|(?:%[2]s:){6}(?:%[1]s|:%[2]s|:)|(?:%[2]s:){5}(?::%[1]s|(?::%[2]s){1,2}|:)|(?:%[2]s:){4}(?:(?::%[2]s){0,1}:%[1]s|(?::%[2]s){1,3}|:)|(?:%[2]s:){3}(?:(?::%[2]s){0,2}:%[1]s|(?::%[2]s){1,4}|:)|(?:%[2]s:){2}(?:(?::%[2]s){0,3}:%[1]s|(?::%[2]s){1,5}|:)|(?:%[2]s:){1}(?:(?::%[2]s){0,4}:%[1]s|(?::%[2]s){1,6}|:)|(?::(?:(?::%[2]s){0,5}:%[1]s|(?::%[2]s){1,7}|:)))(?:%%[0-9a-zA-Z-.:]{1,})?$` $v4 $s -}}
{{- if or (regexMatch (printf "^%s$" $v4) .) (regexMatch $v6 .) -}}true
{{- else -}}
{{- $name := trimSuffix "." . -}}
{{- $labels := splitList "." $name -}}
{{- $valid := and (ge (len $name) 1) (le (len $name) 253) (not (regexMatch "^[0-9]+$" (last $labels))) -}}
{{- range $labels -}}{{- if not (regexMatch `^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$` .) -}}{{- $valid = false -}}{{- end -}}{{- end -}}
{{- if $valid -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* The comma-separated PAYPAL_CERT_HOSTS as the service reads it: why it refuses it, or "". */}}
{{- define "eis.certHostsProblem" -}}
{{- $problem := "" -}}
{{- range splitList "," . -}}
{{- $entry := include "eis.jsTrim" . -}}
{{- if and (not $problem) (ne $entry "") -}}
{{- with include "eis.certHostProblem" $entry -}}{{- $problem = printf "entry '%s' is not host[:port] (%s; e.g. certs.example.com or localhost:8443, *.domain[:port] for a domain's hosts)" $entry . -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $problem -}}
{{- end -}}

{{/*
HOST, TRUST_PROXY and PAYPAL_CERT_HOSTS of one process's merged config, named by the values key they come from:
`prefix` (`ingress.config`) when `roleConfig` (that role's own config) sets them, else `config`. (HOST's rule, a
length bound and a last label not all digits, is more than one JSON-schema pattern states.) Call with (dict "config" $merged "prefix" "ingress.config" "roleConfig" $own).
*/}}
{{- define "eis.checkSingleValues" -}}
{{- $config := .config -}}
{{- $prefix := .prefix -}}
{{- $roleConfig := .roleConfig | default dict -}}
{{- $blank := printf "^%s*$" (include "eis.jsBlank" dict) -}}
{{- range $name := list "HOST" "TRUST_PROXY" "PAYPAL_CERT_HOSTS" -}}
{{- if hasKey $config $name -}}
{{- $value := include "eis.envValue" (get $config $name) -}}
{{- $key := printf "%s.%s" (ternary $prefix "config" (hasKey $roleConfig $name)) $name -}}
{{- if not (regexMatch $blank $value) -}}
{{- if eq $name "HOST" -}}
{{- if not (include "eis.isHostName" $value) -}}
{{- fail (printf "%s=%s: must be an IP address (0.0.0.0, ::, 127.0.0.1) or a host name (dot-separated labels of letters, digits and hyphens), without scheme, port or path; the service refuses to start with it" $key (toJson $value)) -}}
{{- end -}}
{{- else if eq $name "TRUST_PROXY" -}}
{{- with include "eis.trustProxyProblem" $value -}}
{{- fail (printf "%s=%s: %s (expected true, false, a hop count, or comma-separated IP addresses, subnets (10.0.0.0/8) and loopback, linklocal, uniquelocal); the service refuses to start with it" $key (toJson $value) .) -}}
{{- end -}}
{{- else -}}
{{- with include "eis.certHostsProblem" $value -}}
{{- fail (printf "%s=%s: %s; the service refuses to start with it" $key (toJson $value) .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
