import MeltapClient
print("swift-subscriber: not yet")
