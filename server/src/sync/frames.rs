//! Frames written around bytes the store already holds encoded, so a full sync neither decodes
//! every stored object into values nor encodes them again.
//!
//! The output is byte-identical to `protocol::encode` of the same message (tests check it), so
//! clients cannot tell the difference.

use shared_types::protocol::{GlobalId, Op};

/// One operation of a full-sync chunk: a put whose properties are still the stored MessagePack
/// (what `protocol::encode_props` wrote), or any other operation.
#[derive(Debug)]
pub enum ChunkOp {
    Put {
        entity: u32,
        id: GlobalId,
        props: Vec<u8>,
    },
    Other(Op),
}

/// Encodes `ServerMessage::FullSyncChunk { ops }`.
pub fn full_sync_chunk(ops: &[ChunkOp]) -> Vec<u8> {
    let size: usize = ops
        .iter()
        .map(|op| match op {
            ChunkOp::Put { props, .. } => props.len() + 48,
            ChunkOp::Other(_) => 80,
        })
        .sum();
    let mut out = Vec::with_capacity(size + 32);
    // Writing into a Vec cannot fail.
    let _ = write_chunk(&mut out, ops);
    out
}

fn write_chunk(out: &mut Vec<u8>, ops: &[ChunkOp]) -> Result<(), Box<dyn std::error::Error>> {
    use rmp::encode::{write_array_len, write_map_len, write_str, write_uint};
    // Externally tagged enum variant with named fields: {"FullSyncChunk": {"ops": [...]}}.
    write_map_len(out, 1)?;
    write_str(out, "FullSyncChunk")?;
    write_map_len(out, 1)?;
    write_str(out, "ops")?;
    write_array_len(out, u32::try_from(ops.len())?)?;
    for op in ops {
        match op {
            ChunkOp::Put { entity, id, props } => {
                write_map_len(out, 1)?;
                write_str(out, "Put")?;
                write_map_len(out, 3)?;
                write_str(out, "entity")?;
                write_uint(out, u64::from(*entity))?;
                write_str(out, "id")?;
                write_array_len(out, 2)?;
                write_uint(out, id.0)?;
                write_uint(out, id.1)?;
                write_str(out, "props")?;
                out.extend_from_slice(props);
            }
            ChunkOp::Other(op) => rmp_serde::encode::write_named(out, op)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use shared_types::protocol::{ServerMessage, Value, encode, encode_props};

    use super::*;

    #[test]
    fn a_chunk_framed_around_stored_props_is_the_encoded_message() {
        let props = vec![
            (1, Value::Null),
            (2, Value::Bool(true)),
            (3, Value::Int(-5)),
            (4, Value::Int(i64::MAX)),
            (5, Value::Float(1.5)),
            (6, Value::String("héllo".into())),
            (7, Value::Bytes(vec![0, 1, 255])),
            (
                8,
                Value::List(vec![Value::Int(1), Value::String("x".into())]),
            ),
            (
                9,
                Value::Map(vec![("k".into(), Value::List(vec![Value::Null]))]),
            ),
            (300, Value::String("a long text ".repeat(40))),
        ];
        let puts = [
            (1, GlobalId(7, 9), props.clone()),
            (u32::MAX, GlobalId(u64::MAX, 0), vec![]),
            (70_000, GlobalId(0, 300), props),
        ];
        let link = Op::RelAdd {
            relation: 3,
            source: GlobalId(1, 2),
            target: GlobalId(3, 4),
        };
        let mut chunk: Vec<ChunkOp> = puts
            .iter()
            .map(|(entity, id, props)| ChunkOp::Put {
                entity: *entity,
                id: *id,
                props: encode_props(props),
            })
            .collect();
        chunk.push(ChunkOp::Other(link.clone()));
        let mut ops: Vec<Op> = puts
            .into_iter()
            .map(|(entity, id, props)| Op::Put { entity, id, props })
            .collect();
        ops.push(link);
        assert_eq!(
            full_sync_chunk(&chunk),
            encode(&ServerMessage::FullSyncChunk { ops: ops.clone() })
        );
        assert_eq!(
            full_sync_chunk(&[]),
            encode(&ServerMessage::FullSyncChunk { ops: vec![] })
        );
        // And a long chunk (array length beyond 16 and 65,535 markers).
        let many: Vec<ChunkOp> = (0..70_000)
            .map(|i| ChunkOp::Put {
                entity: 1,
                id: GlobalId(1, i),
                props: encode_props(&[(2, Value::Int(i as i64))]),
            })
            .collect();
        let many_ops: Vec<Op> = (0..70_000)
            .map(|i| Op::Put {
                entity: 1,
                id: GlobalId(1, i),
                props: vec![(2, Value::Int(i as i64))],
            })
            .collect();
        assert_eq!(
            full_sync_chunk(&many),
            encode(&ServerMessage::FullSyncChunk { ops: many_ops })
        );
    }
}
