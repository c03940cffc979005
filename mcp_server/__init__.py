"""MCP server (issue #5): built on sora2_bridge.shared."""
