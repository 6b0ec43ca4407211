//! Tests of the decoding, on messages written by the real channels_redis (see fixtures/).
use super::*;

