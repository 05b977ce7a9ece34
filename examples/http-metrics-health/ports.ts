/**
 * The ports and paths of examples/http-metrics-health, shared with the deploy
 * files' test (deploy/k8s and deploy/Dockerfile must name the same ones).
 */

/** The app's own HTTP port. */
export const APP_PORT = 8080
/** The second port: /metrics for Prometheus, /livez and /readyz for the kubelet. */
export const HEALTH_PORT = 9464
export const METRICS_PATH = '/metrics'
/** Where the StatefulSet mounts the pod's volume; the WAL is a directory in it. */
export const AUDIT_DIR = '/var/audit/app'
