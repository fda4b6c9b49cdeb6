# Sourced by .ci/run and `make peers`: builds the peers from the Go module proxy at pinned
# versions, once per machine (under the Go build cache's directory), and exports their paths as
# SLUICE_VMAGENT and SLUICE_TELEGRAF unless those are set already.
#
#   . bench/peers/tools.sh

vmagent_version=v1.151.0
vmagent_dir="$(go env GOCACHE)/../sluice-vmagent-$vmagent_version"
if [ -z "${SLUICE_VMAGENT:-}" ]; then
  if [ ! -x "$vmagent_dir/vmagent" ]; then
    echo "--- building vmagent ($vmagent_version)"
    mkdir -p "$vmagent_dir"
    GOFLAGS= GOBIN="$vmagent_dir" go install "github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@$vmagent_version"
  fi
  export SLUICE_VMAGENT="$vmagent_dir/vmagent"
fi

# Telegraf with only the plugins the comparison runs (its "custom" build tag), as its docs
# describe for a small binary.
telegraf_version=v1.39.3
telegraf_tags="custom,inputs.kafka_consumer,outputs.kafka,outputs.http,parsers.influx,serializers.influx,serializers.prometheusremotewrite"
telegraf_dir="$(go env GOCACHE)/../sluice-telegraf-$telegraf_version"
if [ -z "${SLUICE_TELEGRAF:-}" ]; then
  if [ ! -x "$telegraf_dir/telegraf" ]; then
    echo "--- building Telegraf ($telegraf_version, $telegraf_tags)"
    mkdir -p "$telegraf_dir"
    GOFLAGS= GOBIN="$telegraf_dir" go install -tags "$telegraf_tags" "github.com/influxdata/telegraf/cmd/telegraf@$telegraf_version"
  fi
  export SLUICE_TELEGRAF="$telegraf_dir/telegraf"
fi
