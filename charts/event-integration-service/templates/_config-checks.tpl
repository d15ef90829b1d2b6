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
The part of IDNA's (UTS #46) mapping the chart can do exactly, for a host past ASCII: fullwidth ASCII (U+FF01-U+FF5E)
to ASCII, A-Z to a-z, the ideographic and halfwidth full stops to a dot, and the code points IDNA ignores (soft hyphen,
zero-width space, word joiner, byte order mark, variation selectors and the like, those ignored in every Unicode
version since 2010: U+00AD, U+034F, U+180B-U+180D, U+200B, U+2060, U+FE00-U+FE0F, U+FEFF, U+1BCA0-U+1BCA3,
U+E0100-U+E01EF) dropped. Every other character is kept as it is (IDNA may map it, e.g. Ⅻ to xii): so a result in
ASCII is exactly IDNA's mapping.
*/}}
{{- define "eis.idnaMapKnown" -}}
{{- $ignored := `^[\x{ad}\x{34f}\x{180b}-\x{180d}\x{200b}\x{2060}\x{fe00}-\x{fe0f}\x{feff}\x{1bca0}-\x{1bca3}\x{e0100}-\x{e01ef}]$` -}}
{{- $out := list -}}
{{- range regexFindAll `(?s).` . -1 -}}
{{- if regexMatch `^[\x{ff01}-\x{ff5e}]$` . -}}
{{- /* UTF-8 EF BC 81-BF is U+FF01-U+FF3F, EF BD 80-9E is U+FF40-U+FF5E; each is its ASCII character + 0xFEE0. */ -}}
{{- $bytes := printf "%x" . -}}
{{- $last := printf "0x%s" (substr 4 6 $bytes) | int64 -}}
{{- $cp := add (ternary 0xff00 0xff40 (eq (substr 0 4 $bytes) "efbc")) (sub $last 0x80) -}}
{{- $out = append $out (printf "%c" (sub $cp 0xfee0) | lower) -}}
{{- else if regexMatch `^[\x{3002}\x{ff61}]$` . -}}{{- $out = append $out "." -}}
{{- else if regexMatch `^[A-Z]$` . -}}{{- $out = append $out (lower .) -}}
{{- else if not (regexMatch $ignored .) -}}{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- join "" $out -}}
{{- end -}}

{{/*
"true" when a label (already mapped by eis.idnaMapKnown, or decoded from Punycode) begins with a code point IDNA
refuses there: a combining mark, or a character IDNA maps to one (UTS #46 4.1 V5), as the pods' URL parser has it
(eis.idnaCombiningMarks); else "".
*/}}
{{- define "eis.idnaStartsWithMark" -}}
{{- if regexMatch (printf `^[%s]` (include "eis.idnaCombiningMarks" . | replace "\n" "")) . -}}true{{- end -}}
{{- end -}}

{{/* The first character of a string as U+XXXX (its UTF-8 bytes decoded), for naming an invisible one in a message. */}}
{{- define "eis.firstCodePoint" -}}
{{- $hex := printf "%x" (regexFind `^(?s).` .) -}}
{{- $bytes := list -}}
{{- range $i := until (int (div (len $hex) 2)) -}}{{- $bytes = append $bytes (printf "0x%s" (substr (int (mul $i 2)) (int (add (mul $i 2) 2)) $hex) | int64) -}}{{- end -}}
{{- $cp := 0 -}}
{{- if eq (len $bytes) 1 -}}{{- $cp = index $bytes 0 -}}
{{- else -}}
{{- $cp = sub (index $bytes 0) (get (dict "2" 0xc0 "3" 0xe0 "4" 0xf0) (toString (len $bytes))) -}}
{{- range (rest $bytes) -}}{{- $cp = add (mul $cp 64) (sub . 0x80) -}}{{- end -}}
{{- end -}}
{{- printf "U+%04X" $cp -}}
{{- end -}}

{{/*
Why IDNA refuses an xn-- label's Punycode (the part after xn--, lower-case ASCII), or "". RFC 3492's decoder, as the
pods' URL parser runs it for a host past ASCII; then UTS #46's checks of the result, for what is certain: a label that
decodes to nothing or to ASCII only, a code point IDNA maps or disallows (a control, a private-use character, the
ignored ones, fullwidth ASCII, an upper-case Latin-1, Greek or Cyrillic letter), a combining mark first.
*/}}
{{- define "eis.punycodeProblem" -}}
{{- $input := . -}}
{{- $problem := "" -}}
{{- $base := 36 -}}{{- $tmin := 1 -}}{{- $tmax := 26 -}}
{{- $digits := dict -}}
{{- range $i, $c := splitList "" "abcdefghijklmnopqrstuvwxyz0123456789" -}}{{- $_ := set $digits $c $i -}}{{- end -}}
{{- $out := list -}}
{{- $extended := $input -}}
{{- $delimiter := regexFind `^.*-` $input -}}
{{- if $delimiter -}}
{{- $out = splitList "" (trimSuffix "-" $delimiter) | compact -}}
{{- range $out -}}{{- if not (regexMatch `^[\x00-\x7f]$` .) -}}{{- $problem = "not ASCII" -}}{{- end -}}{{- end -}}
{{- $extended = substr (len $delimiter) -1 $input -}}
{{- end -}}
{{- /* Code points as numbers: the basic ones first. */ -}}
{{- $points := list -}}
{{- range $out -}}{{- $points = append $points (printf "%x" . | printf "0x%s" | int64) -}}{{- end -}}
{{- $n := 128 -}}{{- $i := 0 -}}{{- $bias := 72 -}}
{{- $oldi := 0 -}}{{- $w := 1 -}}{{- $k := $base -}}{{- $open := false -}}
{{- range $c := splitList "" $extended | compact -}}
{{- if not $problem -}}
{{- if not $open -}}{{- $oldi = $i -}}{{- $w = 1 -}}{{- $k = $base -}}{{- $open = true -}}{{- end -}}
{{- if not (hasKey $digits $c) -}}{{- $problem = printf "'%s' is no Punycode digit" $c -}}
{{- else -}}
{{- $digit := get $digits $c -}}
{{- $i = add $i (mul $digit $w) -}}
{{- $t := ternary $tmin (ternary $tmax (sub $k $bias) (ge $k (add $bias $tmax))) (le $k $bias) -}}
{{- if gt $i 0x7fffffff -}}{{- $problem = "overflow" -}}
{{- else if lt $digit $t -}}
{{- /* A code point is complete: adapt the bias (RFC 3492 6.1), insert it at i. */ -}}
{{- $open = false -}}
{{- $count := add (len $points) 1 -}}
{{- $delta := ternary (div (sub $i $oldi) 700) (div (sub $i $oldi) 2) (eq $oldi 0) -}}
{{- $delta = add $delta (div $delta $count) -}}
{{- $kk := 0 -}}
{{- range until 8 -}}{{- if gt $delta 455 -}}{{- $delta = div $delta 35 -}}{{- $kk = add $kk $base -}}{{- end -}}{{- end -}}
{{- $bias = add $kk (div (mul 36 $delta) (add $delta 38)) -}}
{{- $n = add $n (div $i $count) -}}
{{- $i = mod $i $count -}}
{{- if gt $n 0x10ffff -}}{{- $problem = "past U+10FFFF" -}}
{{- else -}}
{{- $inserted := list -}}
{{- range $j, $p := $points -}}{{- if eq $j (int $i) -}}{{- $inserted = append $inserted $n -}}{{- end -}}{{- $inserted = append $inserted $p -}}{{- end -}}
{{- if eq (int $i) (len $points) -}}{{- $inserted = append $inserted $n -}}{{- end -}}
{{- $points = $inserted -}}
{{- $i = add $i 1 -}}
{{- end -}}
{{- else -}}
{{- $w = mul $w (sub $base $t) -}}
{{- $k = add $k $base -}}
{{- if gt $w 0x7fffffff -}}{{- $problem = "overflow" -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $problem -}}{{- $problem -}}
{{- else if $open -}}ends inside a code point
{{- else -}}
{{- $nonAscii := false -}}
{{- $bad := false -}}
{{- range $points -}}
{{- if ge . 0x80 -}}{{- $nonAscii = true -}}{{- end -}}
{{- if or (lt . 0x20) (and (ge . 0x7f) (le . 0xa0)) (and (ge . 0xd800) (le . 0xdfff)) (and (ge . 0xe000) (le . 0xf8ff)) (ge . 0xf0000) (and (ge . 0xff01) (le . 0xff5e)) -}}{{- $bad = true -}}
{{- else if or (and (ge . 0xc0) (le . 0xde) (ne . 0xd7)) (and (ge . 0x391) (le . 0x3ab) (ne . 0x3a2)) (and (ge . 0x400) (le . 0x42f)) -}}{{- $bad = true -}}
{{- else if or (eq . 0xad) (eq . 0x34f) (and (ge . 0x180b) (le . 0x180d)) (eq . 0x200b) (eq . 0x2060) (and (ge . 0xfe00) (le . 0xfe0f)) (eq . 0xfeff) (and (ge . 0x1bca0) (le . 0x1bca3)) (and (ge . 0xe0100) (le . 0xe01ef)) -}}{{- $bad = true -}}
{{- end -}}
{{- end -}}
{{- if not $nonAscii -}}decodes to ASCII only
{{- else if $bad -}}decodes to a character IDNA maps or disallows
{{- else if include "eis.idnaStartsWithMark" (printf "%c" (first $points)) -}}decodes to a combining mark first
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
parseCertHosts (services/shared/config/paypal-cert-hosts.ts) for one entry, already trimmed and not empty: why it
throws, or "". It parses `https://` + the entry (without a leading `*.`) with the WHATWG URL parser, whose steps for
a host and port are followed here for ASCII. Of IDNA (UTS #46), which a host past ASCII goes through, the chart does
what it can do exactly (eis.idnaMapKnown, eis.punycodeProblem, CheckJoiners after a letter, no combining mark
first: eis.idnaStartsWithMark) and leaves the rest to the pods, taking the entry here: the chart never refuses an
entry the service takes (test/chart/cert-hosts-idna.test.ts compares both on thousands of entries). An ASCII host's `xn--` labels are not decoded: the pods take them unchecked.
No JSON-schema check can stand in: a pattern of LDH labels (or `format: hostname`, which helm asserts for draft-07)
would refuse the Unicode, fullwidth and invisible characters the service maps to a good host (münchen.de,
ｅｘａｍｐｌｅ.com, a soft hyphen) and underscores, and helm asserts nothing for `format: idn-hostname`.
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
{{- /* A domain. %XX escapes are decoded in one pass; one of a byte past ASCII (UTF-8) is left to the pods' IDNA, and
so is the label holding it. */ -}}
{{- $escape := "%[0-7][0-9a-fA-F]" -}}
{{- $pieces := regexSplit $escape $host -1 -}}
{{- $decoded := first $pieces -}}
{{- range $i, $found := regexFindAll $escape $host -1 -}}
{{- $decoded = printf "%s%c%s" $decoded (printf "0x%s" (substr 1 3 $found) | int64) (index $pieces (add $i 1)) -}}
{{- end -}}
{{- $highEscape := "%[89a-fA-F][0-9a-fA-F]" -}}
{{- $plain := regexReplaceAll $highEscape $decoded "" -}}
{{- $escaped := ne $plain $decoded -}}
{{- $ascii := and (not $escaped) (regexMatch `^[\x00-\x7f]*$` $decoded) -}}
{{- /* Forbidden domain code points, and the C1 controls, which IDNA disallows. */ -}}
{{- $forbidden := `[\x00-\x20#/:<>?@\[\\\]^|%\x7f\x{80}-\x{9f}]` -}}
{{- /* A host past ASCII goes through IDNA (UTS #46) as a whole; it maps first, then splits into labels (U+3002,
U+FF0E, U+FF61 are dots too) and checks each. eis.idnaMapKnown is the part of the mapping the chart can do exactly
(fullwidth ASCII, A-Z, the ignored code points); a host it maps to ASCII is then checked as an ASCII one (the URL
parser checks IDNA's ASCII result for forbidden code points, and reads a last label that is a number as an address). */ -}}
{{- $mapped := ternary (lower $decoded) (include "eis.idnaMapKnown" $decoded) $ascii -}}
{{- $mappedAscii := and (not $escaped) (regexMatch `^[\x00-\x7f]*$` $mapped) -}}
{{- $idnaProblem := "" -}}
{{- if not $ascii -}}
{{- range $label := regexSplit `[.\x{3002}\x{ff0e}\x{ff61}]` $mapped -1 -}}
{{- if and (not $idnaProblem) (not (regexMatch $highEscape $label)) -}}
{{- /* An xn-- label is Punycode, ASCII by definition: IDNA decodes each one and refuses one it cannot decode, or
whose decoding it would not have produced itself. The letters counted as staying past ASCII are Latin (less the few
IDNA maps to ASCII: U+017F, U+01C7-U+01CC, U+01F1-U+01F3), combining marks, Greek and Cyrillic; other characters
(e.g. Ⅻ, mapped to xii) are left to the pods. */ -}}
{{- if hasPrefix "xn--" $label -}}
{{- if regexMatch `[\x{c0}-\x{17e}\x{180}-\x{1c6}\x{1cd}-\x{1f0}\x{1f4}-\x{2af}\x{300}-\x{37d}\x{37f}-\x{52f}]` $label -}}{{- $idnaProblem = "an xn-- label is Punycode, ASCII only" -}}
{{- else if regexMatch `^[\x00-\x7f]*$` $label -}}
{{- with include "eis.punycodeProblem" (trimPrefix "xn--" $label) -}}{{- $idnaProblem = printf "label '%s' is not valid Punycode: %s" $label . -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- /* IDNA's CheckJoiners: a zero-width joiner or non-joiner only after a virama (or, the non-joiner, between
joining Arabic-like letters); never first, nor after an ASCII or Latin, Greek or Cyrillic letter. */ -}}
{{- if regexMatch `(?:^|[\x00-\x7f\x{c0}-\x{2af}\x{370}-\x{3ff}\x{400}-\x{482}\x{48a}-\x{52f}])[\x{200c}\x{200d}]` $label -}}{{- $idnaProblem = "a zero-width joiner or non-joiner only follows a virama" -}}{{- end -}}
{{- /* UTS #46 4.1 V5: no label begins with a combining mark (U+0301 first), nor with a character IDNA maps to one. */ -}}
{{- if and (not $idnaProblem) (include "eis.idnaStartsWithMark" $label) -}}{{- $idnaProblem = printf "label '%s' begins with %s, a combining mark or a character IDNA maps to one, which IDNA refuses at the start of a label" $label (include "eis.firstCodePoint" $label) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if regexMatch $forbidden $plain -}}{{- $problem = "expected host or host:port" -}}
{{- else if and (not $escaped) (regexMatch $forbidden $mapped) -}}{{- $problem = "expected host or host:port" -}}
{{- else if $idnaProblem -}}{{- $problem = $idnaProblem -}}
{{- else if $mappedAscii -}}
{{- $host = $mapped -}}
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
