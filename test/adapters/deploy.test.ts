// deploy/: no container engine or cluster exists here, so the files are parsed
// and checked against the code: every metric a dashboard query or an alert
// uses is declared in lib/adapters/prometheus.ts; probe paths and ports,
// the entry point, the volume and the shutdown timing match the code; the
// Dockerfile runs as `node` under tini with CMD ["node", ...].
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { FIXED, INTEGRATION } from '../../shared/limits.js'
import { AUDIT_METRICS, auditMetricNames } from '../../lib/adapters/prometheus.js'
import { HEALTH_PATHS } from '../../lib/adapters/health.js'
import { APP_PORT, AUDIT_DIR, HEALTH_PORT, METRICS_PATH } from '../../examples/http-metrics-health/ports.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const read = (p: string): string => fs.readFileSync(path.join(ROOT, p), 'utf8')

/** Metric names a PromQL expression uses (a histogram's series map back to the histogram). */
function metricsIn(expr: string): string[] {
  const hist = new Set(AUDIT_METRICS.filter((m) => m.type === 'histogram').map((m) => `mtlog_audit_${m.name}`))
  return [...expr.matchAll(/\bmtlog_audit_[a-z_]+\b/g)].map((m) => {
    const base = m[0].replace(/_(bucket|sum|count)$/, '')
    return hist.has(base) ? base : m[0]
  })
}

test('the Grafana dashboard: classic model, schemaVersion 41, a datasource variable, timeseries/stat panels on declared metrics', () => {
  const d = JSON.parse(read('deploy/grafana/mtlog-audit.json')) as {
    schemaVersion: number
    templating: { list: { name: string; type: string; query: string }[] }
    panels: { type: string; datasource: { uid: string }; targets: { expr: string }[] }[]
  }
  assert.is(d.schemaVersion, 41)
  const ds = d.templating.list.find((v) => v.type === 'datasource')
  assert.ok(ds, 'no datasource variable')
  assert.is(ds!.query, 'prometheus')
  const declared = new Set(auditMetricNames())
  let used = 0
  for (const p of d.panels) {
    assert.ok(['timeseries', 'stat'].includes(p.type), p.type)
    assert.is(p.datasource.uid, `\${${ds!.name}}`)
    for (const t of p.targets) {
      const names = metricsIn(t.expr)
      assert.ok(names.length > 0, `a query with no mtlog-audit metric: ${t.expr}`)
      for (const n of names) assert.ok(declared.has(n), `${n} (in ${t.expr}) is not a declared metric`)
      used += names.length
    }
  }
  assert.ok(used >= 10)
})

test('the alert rules: failed, p99 latency, ring fill, durable time stale while emits pend; declared metrics only', () => {
  const doc = YAML.parse(read('deploy/prometheus/alerts.yaml')) as {
    groups: { rules: { alert: string; expr: string }[] }[]
  }
  const rules = doc.groups.flatMap((g) => g.rules)
  const declared = new Set(auditMetricNames())
  for (const r of rules) for (const n of metricsIn(r.expr)) assert.ok(declared.has(n), `${r.alert}: ${n}`)
  const uses = (alert: string, ...names: string[]): void => {
    const r = rules.find((x) => x.alert === alert)
    assert.ok(r, `no alert ${alert}`)
    for (const n of names) assert.ok(metricsIn(r!.expr).includes(n), `${alert} does not use ${n}`)
  }
  uses('MtlogAuditFailed', 'mtlog_audit_failed')
  uses('MtlogAuditP99LatencyHigh', 'mtlog_audit_emit_durable_seconds')
  uses('MtlogAuditRingFilling', 'mtlog_audit_ring_fill_ratio')
  uses('MtlogAuditDurableStale', 'mtlog_audit_last_durable_timestamp_seconds', 'mtlog_audit_pending_emits')
})

interface Container {
  command?: string[]
  args?: string[]
  env?: { name: string; value: string }[]
  ports: { name: string; containerPort: number }[]
  startupProbe: Probe
  readinessProbe: Probe
  livenessProbe: Probe
  lifecycle: { preStop: { exec: { command: string[] } } }
  volumeMounts: { name: string; mountPath: string }[]
}
interface Probe {
  httpGet: { path: string; port: string | number }
  periodSeconds: number
  failureThreshold: number
}

test('the Kubernetes manifests: a StatefulSet with a volume per pod; probes, ports and timing match the code', () => {
  const docs = YAML.parseAllDocuments(read('deploy/k8s/statefulset.yaml')).map((d) => d.toJS() as Record<string, any>)
  const sts = docs.find((d) => d.kind === 'StatefulSet')!
  const svc = docs.find((d) => d.kind === 'Service')!
  assert.ok(sts && svc)
  assert.is(sts.spec.volumeClaimTemplates.length, 1)
  assert.equal(sts.spec.volumeClaimTemplates[0].spec.accessModes, ['ReadWriteOnce'])
  const c = sts.spec.template.spec.containers[0] as Container
  const portOf = (p: string | number): number =>
    typeof p === 'number' ? p : c.ports.find((x) => x.name === p)!.containerPort
  assert.is(portOf('http'), APP_PORT)
  assert.is(portOf('ops'), HEALTH_PORT)
  assert.equal((svc.spec.ports as { port: number }[]).map((p) => p.port).sort(), [APP_PORT, HEALTH_PORT].sort())
  assert.is(c.readinessProbe.httpGet.path, HEALTH_PATHS.ready)
  assert.is(c.startupProbe.httpGet.path, HEALTH_PATHS.ready)
  assert.is(c.livenessProbe.httpGet.path, HEALTH_PATHS.live)
  for (const p of [c.readinessProbe, c.startupProbe, c.livenessProbe]) assert.is(portOf(p.httpGet.port), HEALTH_PORT)
  // The startup probe covers open()'s recovery bound.
  assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= FIXED.openTimeoutMs / 1000)
  // The grace period covers preStop + the shutdown bound, with room.
  const preStop = Number(c.lifecycle.preStop.exec.command[1])
  assert.ok(
    sts.spec.template.spec.terminationGracePeriodSeconds >= preStop + INTEGRATION.shutdownTimeoutMs / 1000 + 5,
    'terminationGracePeriodSeconds does not cover preStop + the drain',
  )
  // The WAL directory is on the pod's volume; the entry point exists in the build.
  const mount = c.volumeMounts.find((m) => m.name === 'audit')!.mountPath
  assert.ok(AUDIT_DIR.startsWith(`${mount}/`))
  assert.is(c.env?.find((e) => e.name === 'AUDIT_DIR')?.value, AUDIT_DIR)
  assert.is(c.args?.[0], 'node')
  assert.ok(fs.existsSync(new URL(`../../${c.args![1]!.replace(/^dist\//, '')}`, import.meta.url)), c.args![1])
  const annotations = sts.spec.template.metadata.annotations as Record<string, string>
  assert.is(Number(annotations['prometheus.io/port']), HEALTH_PORT)
  assert.is(annotations['prometheus.io/path'], METRICS_PATH)
})

test('the Dockerfile: USER node, tini as PID 1, CMD ["node", <the example>], the ports the code listens on', () => {
  const lines = read('deploy/Dockerfile')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  const last = (k: string): string =>
    lines
      .filter((l) => l.startsWith(`${k} `))
      .at(-1)!
      .slice(k.length + 1)
  assert.is(last('USER'), 'node')
  assert.match(JSON.parse(last('ENTRYPOINT')).join(' '), /tini --$/)
  const cmd = JSON.parse(last('CMD')) as string[]
  assert.is(cmd[0], 'node')
  assert.ok(fs.existsSync(new URL(`../../${cmd[1]!.replace(/^dist\//, '')}`, import.meta.url)), cmd[1])
  assert.equal(last('EXPOSE').split(' ').map(Number).sort(), [APP_PORT, HEALTH_PORT].sort())
  assert.ok(
    lines.some((l) => /apt-get install .*\btini\b/.test(l)),
    'tini is not installed',
  )
  // The image's WAL directory is the one the code defaults to.
  assert.ok(lines.some((l) => l.includes(AUDIT_DIR)))
})

test.run()
