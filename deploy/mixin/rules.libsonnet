// Recording rules. Named level:metric:operations; the level lists the labels
// kept (plus the cluster label when the series have one). Every rate is summed
// by the disk's labels first, so per-target labels (pod, namespace, ...) are
// gone before any join: two targets with the same instance (an exporter pod
// restart, old and new pod overlapping for the rate window) add up instead of
// making "duplicate series for the match group".
{
  local c = $._config,
  local disk = std.join(', ', c.diskLabels),
  local sumRate(metric, matchers='', by=disk) =
    'sum by (%s) (rate(%s{%s%s}[%s]))' % [by, metric, c.diskidleSelector, matchers, c.rateInterval],

  prometheusRules+:: {
    groups+: [{
      name: 'diskidle.recording',
      rules: [
        // --- Per disk (instance, job, device) --------------------------------
        {
          // Busy fraction of wall time, the same number as iostat %util.
          record: 'instance_device:diskidle_disk_utilization:ratio_rate5m',
          expr: 'clamp_max(%s, 1)\n' % sumRate('diskidle_disk_io_time_seconds_total'),
        },
        {
          record: 'instance_device:diskidle_disk_written_bytes:rate5m',
          expr: sumRate('diskidle_disk_written_bytes_total') + '\n',
        },
        {
          record: 'instance_device:diskidle_disk_read_bytes:rate5m',
          expr: sumRate('diskidle_disk_read_bytes_total') + '\n',
        },
        {
          // Write requests plus cache-flush requests completed per second.
          // Kernels without flush accounting (< 5.5) fall back to writes alone.
          record: 'instance_device:diskidle_disk_write_flush_requests:rate5m',
          expr: |||
            (
              %(writes)s
              + on (%(disk)s)
              %(flushes)s
            )
            or on (%(disk)s)
            %(writes)s
          ||| % {
            disk: disk,
            writes: sumRate('diskidle_disk_writes_completed_total'),
            flushes: sumRate('diskidle_disk_flush_requests_total'),
          },
        },
        {
          // Average bytes carried by one write or flush request (iostat
          // wareq-sz, flushes counted as zero-byte requests). Near 0 = the disk
          // is asked to write but given nothing to write. The `> 0` filters the
          // denominator, so 0 bytes per request is 0, not "no data".
          record: 'instance_device:diskidle_disk_written_bytes_per_write_flush_request:ratio_rate5m',
          expr: |||
            instance_device:diskidle_disk_written_bytes:rate5m
            / on (%(disk)s)
            (instance_device:diskidle_disk_write_flush_requests:rate5m > 0)
          ||| % { disk: disk },
        },

        // --- Per program name: the complete view (every bio once) ------------
        {
          // Zero-byte bios/s per comm and syscall (le="0" bucket of the
          // complete view diskidle_bio_size_bytes; includes exited processes).
          record: 'instance_device_comm_syscall:diskidle_bio_zero_byte:rate5m',
          expr: sumRate('diskidle_bio_size_bytes_bucket', ', le="0"', disk + ', comm, syscall') + '\n',
        },
        {
          record: 'instance_device_comm_syscall:diskidle_bio_flush:rate5m',
          expr: sumRate('diskidle_bio_size_bytes_count', ', op="flush"', disk + ', comm, syscall') + '\n',
        },
        {
          // Per program name: a program that restarts or forks short-lived
          // workers (a `sync` cron job) stays one series.
          record: 'instance_device_comm:diskidle_bio_zero_byte:rate5m',
          expr: |||
            sum by (%(disk)s, comm) (
              instance_device_comm_syscall:diskidle_bio_zero_byte:rate5m
            )
          ||| % { disk: disk },
        },

        // --- Per process: the per-process view (top live processes) ----------
        {
          record: 'instance_device_comm_pid_syscall:diskidle_process_zero_byte_bios:rate5m',
          expr: sumRate('diskidle_process_zero_byte_bios_total', '', disk + ', comm, pid, syscall') + '\n',
        },
        {
          // For each program name on each disk: its top syscall by zero-byte
          // bios/s (value, from the complete view), with the `pid` of the
          // busiest process of that comm and syscall in the per-process view.
          // No pid label when no such process has series (exited, short-lived,
          // not among the top `max_processes`, or the view is off).
          record: 'instance_device_comm:diskidle_bio_zero_byte_top_process:rate5m',
          expr: |||
            (
              topk by (%(disk)s, comm) (1,
                instance_device_comm_syscall:diskidle_bio_zero_byte:rate5m > 0
              )
              * on (%(disk)s, comm, syscall) group_left (pid)
              (
                topk by (%(disk)s, comm, syscall) (1,
                  instance_device_comm_pid_syscall:diskidle_process_zero_byte_bios:rate5m > 0
                ) > bool 0
              )
            )
            or on (%(disk)s, comm)
            topk by (%(disk)s, comm) (1,
              instance_device_comm_syscall:diskidle_bio_zero_byte:rate5m > 0
            )
          ||| % { disk: disk },
        },
        {
          // The top sender of zero-byte bios on each disk: labels comm,
          // syscall and (when known) pid. Alerts and runbooks name it.
          record: 'instance_device:diskidle_bio_zero_byte_top_process:rate5m',
          expr: |||
            topk by (%(disk)s) (1,
              instance_device_comm:diskidle_bio_zero_byte_top_process:rate5m
            )
          ||| % { disk: disk },
        },
      ],
    }],
  },
}
