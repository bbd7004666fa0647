(import 'diskidle.libsonnet')
