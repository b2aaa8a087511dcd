// The live pipeline builds on the offline one (the option table, the file sidecar, progress,
// stop signals); its users see both through `import MelPipeline`.
@_exported import MelOffline
