{{/*
A label value from values (commonLabels, <role>.podLabels, metrics.*.labels...) as the string Kubernetes gets.

A number in a values file reaches the chart as a float64 (Helm reads YAML through JSON), and --set's int64 became one
too in eis.labelMap's JSON round trip: printed as it was, `cost-center: 12345678` came out "1.2345678e+07", not the
digits the user meant and not even a valid label value. So an integral float64 is written as its digits; an integer
from --set (int64) is exact and written as it is; other numbers and booleans as Go prints them ("1.5", "true").
A values file's integer beyond 2^53 has already been rounded by Helm (12345678901234567890 reads as
12345678901234567168): its digits are gone, so it is refused, asking for quotes, rather than written wrong.
The result must be a valid label value (at most 63 characters of [A-Za-z0-9._-], starting and ending with a letter or
digit, or empty); anything else, a map or a list included, fails the render here, naming the values key and the label,
rather than at apply (or, for a pod label, in a ReplicaSet the Deployment cannot create).
Call with (dict "key" "commonLabels" "name" $name "value" $value). A null value is not passed here: it unsets the label.
*/}}
{{- define "eis.labelValue" -}}
{{- $value := .value -}}
{{- $text := "" -}}
{{- if kindIs "string" $value -}}
{{- $text = $value -}}
{{- else if kindIs "float64" $value -}}
{{- if ne $value (floor $value) -}}
{{- $text = toString $value -}}
{{- else if and (lt $value 9007199254740992.0) (gt $value -9007199254740992.0) -}}
{{- $text = printf "%d" (int64 $value) -}}
{{- else -}}
{{- fail (printf "%s: %q is the number %s, an integer beyond 2^53 that Helm has already rounded reading the values; write it quoted, as a string, to keep its digits" .key .name (toString $value)) -}}
{{- end -}}
{{- else if or (kindIs "int" $value) (kindIs "int64" $value) (kindIs "bool" $value) -}}
{{- $text = toString $value -}}
{{- else -}}
{{- fail (printf "%s: %q is a %s; a label value must be a string (or a number or boolean, written as text)" .key .name (kindOf $value)) -}}
{{- end -}}
{{- if or (gt (len $text) 63) (not (regexMatch "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$" $text)) -}}
{{- fail (printf "%s: %q is %q, not a valid Kubernetes label value (at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty)" .key .name $text) -}}
{{- end -}}
{{- $text -}}
{{- end -}}
