"""osspolicy: async batch operations on Alibaba Cloud OSS bucket policies."""
