import Testing

@Test func placeholder_MelFilesTests() {}
