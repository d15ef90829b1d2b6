{{/* A role's Deployment. Call with (dict "root" $ "role" "ingress"|"worker"). */}}
{{- define "eis.deployment" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $values := index $root.Values $role -}}
{{- $isWorker := eq $role "worker" -}}
{{- $needsToken := and $isWorker $root.Values.worker.podDeletionCost.enabled -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "eis.fullname" $root }}-{{ $role }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "eis.componentLabels" (dict "root" $root "component" $role) | nindent 4 }}
spec:
  {{- with include "eis.replicas" (dict "root" $root "role" $role) }}
  replicas: {{ . }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "eis.componentSelectorLabels" (dict "root" $root "component" $role) | nindent 6 }}
  strategy:
    {{- if $values.strategy }}
    {{- toYaml $values.strategy | nindent 4 }}
    {{- else if $isWorker }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 25%
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- end }}
  template:
    metadata:
      labels:
        {{- include "eis.podLabels" (dict "root" $root "component" $role "podLabels" $values.podLabels "key" (printf "%s.podLabels" $role)) | nindent 8 }}
      annotations:
        {{- include "eis.checksumAnnotations" $root | nindent 8 }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $root.Values.containerPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ if $isWorker }}{{ include "eis.worker.serviceAccountName" $root }}{{ else }}{{ include "eis.ingress.serviceAccountName" $root }}{{ end }}
      # Only the worker talks to the Kubernetes API (pod-deletion-cost).
      automountServiceAccountToken: {{ $needsToken }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ include "eis.terminationGracePeriodSeconds" (dict "root" $root "role" $role) }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with include "eis.topologySpreadConstraints" (dict "root" $root "component" $role "custom" $values.topologySpreadConstraints) | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $role }}
          image: {{ include "eis.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $root.Values.containerPort }}
              protocol: TCP
          env:
            {{- include "eis.env" (dict "root" $root "role" $role) | trim | nindent 12 }}
          {{- with $root.Values.extraEnvFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- include "eis.probes" (dict "root" $root "role" $role) | nindent 10 }}
          {{- with include "eis.lifecycle" (dict "root" $root "role" $role) | trim }}
          {{- . | nindent 10 }}
          {{- end }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            {{- include "eis.volumeMounts" $root | nindent 12 }}
            {{- with $root.Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "eis.volumes" $root | nindent 8 }}
        {{- with $root.Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}
