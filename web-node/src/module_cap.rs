//! Before the browser compiles a task's WebAssembly module, the module is rewritten so that
//! it cannot take more memory than the node allows, and so that a refused growth can be
//! told from other traps:
//! - every memory it defines gets the node's limit as its maximum (a module normally
//!   declares none, and the browser would let it grow to 4 GiB);
//! - every `memory.grow` of its first memory calls the host function [`GROW_IMPORT`]
//!   instead, which grows the memory and remembers a refusal (the task then ends
//!   `out-of-memory`, as on native nodes);
//! - that memory is exported as [`MEMORY_EXPORT`], for the host function to grow.
//!
//! The module is validated first: what the browser would refuse to compile is refused here,
//! with the validator's reason.

use std::convert::Infallible;

use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{ExportKind, Instruction, SectionId, ValType};
use wasmparser::{Parser, Payload, TypeRef, Validator, WasmFeatures};

/// The host function `memory.grow` becomes: `(pages: i32) -> i32`, as `memory.grow`.
pub const GROW_IMPORT: (&str, &str) = ("pws", "memory_grow");
/// The name under which the module's first memory is exported.
pub const MEMORY_EXPORT: &str = "pws:memory";
const PAGE_BYTES: u64 = 64 * 1024;

/// Why a module cannot run under the limit.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// It is not a valid module.
    Invalid(String),
    /// It asks for more memory at its start than the node allows.
    TooLarge,
}

/// The module, rewritten to run within `max_memory_bytes` (see the module's documentation).
pub fn cap_memory(bytes: &[u8], max_memory_bytes: usize) -> Result<Vec<u8>, Refused> {
    let types = Validator::new_with_features(WasmFeatures::default())
        .validate_all(bytes)
        .map_err(|e| Refused::Invalid(e.to_string()))?;
    let shape = Shape::of(bytes)?;
    let max_pages = (max_memory_bytes as u64 / PAGE_BYTES).max(1);
    if shape.initial_pages.iter().any(|&pages| pages > max_pages) {
        return Err(Refused::TooLarge);
    }
    let mut capper = Capper {
        max_pages,
        imported_functions: shape.imported_functions,
        grow_type: types.as_ref().core_type_count_in_module(),
        wraps_grow: shape.first_memory_defined_32bit,
        wrote_types: false,
        wrote_imports: false,
    };
    let mut module = wasm_encoder::Module::new();
    capper
        .parse_core_module(&mut module, Parser::new(0), bytes)
        .map_err(|e| Refused::Invalid(e.to_string()))?;
    Ok(module.finish())
}

/// What the rewrite needs to know before it starts.
struct Shape {
    imported_functions: u32,
    /// The initial size of each memory the module defines, in pages.
    initial_pages: Vec<u64>,
    /// Whether memory 0 is defined by the module (not imported) and 32-bit.
    first_memory_defined_32bit: bool,
}

impl Shape {
    fn of(bytes: &[u8]) -> Result<Self, Refused> {
        let invalid = |e: wasmparser::BinaryReaderError| Refused::Invalid(e.to_string());
        let mut shape = Shape {
            imported_functions: 0,
            initial_pages: Vec::new(),
            first_memory_defined_32bit: false,
        };
        let mut imported_memories = 0;
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(invalid)? {
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        match import.map_err(invalid)?.ty {
                            TypeRef::Func(_) | TypeRef::FuncExact(_) => {
                                shape.imported_functions += 1
                            }
                            TypeRef::Memory(_) => imported_memories += 1,
                            _ => {}
                        }
                    }
                }
                Payload::MemorySection(memories) => {
                    for (index, memory) in memories.into_iter().enumerate() {
                        let memory = memory.map_err(invalid)?;
                        if index == 0 && imported_memories == 0 {
                            shape.first_memory_defined_32bit = !memory.memory64;
                        }
                        shape.initial_pages.push(memory.initial);
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }
}

/// The rewrite: copies the module, changing what [`cap_memory`] says.
struct Capper {
    max_pages: u64,
    imported_functions: u32,
    /// The index of the type `(i32) -> i32` added for [`GROW_IMPORT`].
    grow_type: u32,
    /// Whether `memory.grow` of memory 0 becomes a call of [`GROW_IMPORT`].
    wraps_grow: bool,
    wrote_types: bool,
    wrote_imports: bool,
}

impl Capper {
    /// [`GROW_IMPORT`]'s index: after the module's own imports, before its functions.
    fn grow_function(&self) -> u32 {
        self.imported_functions
    }

    fn add_grow_type(&mut self, types: &mut wasm_encoder::TypeSection) {
        types.ty().function([ValType::I32], [ValType::I32]);
        self.wrote_types = true;
    }

    fn add_grow_import(&mut self, imports: &mut wasm_encoder::ImportSection) {
        let (module, name) = GROW_IMPORT;
        imports.import(
            module,
            name,
            wasm_encoder::EntityType::Function(self.grow_type),
        );
        self.wrote_imports = true;
    }
}

impl Reencode for Capper {
    type Error = Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error<Infallible>> {
        // The module's own functions move up by one to make room for the import.
        Ok(if func >= self.imported_functions {
            func + 1
        } else {
            func
        })
    }

    fn memory_type(
        &mut self,
        memory: wasmparser::MemoryType,
    ) -> Result<wasm_encoder::MemoryType, reencode::Error<Infallible>> {
        let mut memory = reencode::utils::memory_type(self, memory);
        let max = memory
            .maximum
            .map_or(self.max_pages, |m| m.min(self.max_pages));
        memory.maximum = Some(max);
        Ok(memory)
    }

    fn instruction<'a>(
        &mut self,
        op: wasmparser::Operator<'a>,
    ) -> Result<Instruction<'a>, reencode::Error<Infallible>> {
        match op {
            wasmparser::Operator::MemoryGrow { mem: 0 } if self.wraps_grow => {
                Ok(Instruction::Call(self.grow_function()))
            }
            op => reencode::utils::instruction(self, op),
        }
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Infallible>> {
        reencode::utils::parse_type_section(self, types, section)?;
        self.add_grow_type(types);
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Infallible>> {
        reencode::utils::parse_import_section(self, imports, section)?;
        self.add_grow_import(imports);
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Infallible>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        if self.wraps_grow {
            exports.export(MEMORY_EXPORT, ExportKind::Memory, 0);
        }
        Ok(())
    }

    /// A module without a type or an import section gets one, in its place.
    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error<Infallible>> {
        let past = |section| before.is_none_or(|next| next != SectionId::Type && next != section);
        if !self.wrote_types && past(SectionId::Type) {
            let mut types = wasm_encoder::TypeSection::new();
            self.add_grow_type(&mut types);
            module.section(&types);
        }
        if !self.wrote_imports && past(SectionId::Import) {
            let mut imports = wasm_encoder::ImportSection::new();
            self.add_grow_import(&mut imports);
            module.section(&imports);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: &[u8] = include_bytes!("../../tests/fixtures/probe.wasm");
    const MIB: usize = 1024 * 1024;

    /// Each memory's maximum, the imports, and whether any `memory.grow` is left.
    fn inspect(bytes: &[u8]) -> (Vec<Option<u64>>, Vec<(String, String)>, bool) {
        Validator::new_with_features(WasmFeatures::default())
            .validate_all(bytes)
            .expect("the rewritten module is valid");
        let (mut maxima, mut imports, mut grows) = (Vec::new(), Vec::new(), false);
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.unwrap() {
                Payload::MemorySection(memories) => {
                    maxima.extend(memories.into_iter().map(|m| m.unwrap().maximum));
                }
                Payload::ImportSection(section) => imports.extend(
                    section
                        .into_imports()
                        .map(|i| i.unwrap())
                        .map(|i| (i.module.to_owned(), i.name.to_owned())),
                ),
                Payload::CodeSectionEntry(body) => {
                    let mut ops = body.get_operators_reader().unwrap();
                    while !ops.eof() {
                        grows |=
                            matches!(ops.read().unwrap(), wasmparser::Operator::MemoryGrow { .. });
                    }
                }
                _ => {}
            }
        }
        (maxima, imports, grows)
    }

    #[test]
    fn a_wasi_command_gets_the_limit_and_the_growth_hook() {
        let capped = cap_memory(PROBE, 64 * MIB).unwrap();
        let (maxima, imports, grows) = inspect(&capped);
        assert_eq!(maxima, vec![Some(1024)], "64 MiB in 64 KiB pages");
        assert_eq!(
            imports.last(),
            Some(&("pws".to_owned(), "memory_grow".to_owned()))
        );
        assert!(
            imports
                .iter()
                .any(|(module, _)| module == "wasi_snapshot_preview1")
        );
        assert!(!grows, "every memory.grow calls the host");
    }

    #[test]
    fn a_module_without_imports_gets_the_hook_imported() {
        // (module (memory 1) (func (export "_start") (drop (memory.grow (i32.const 1)))))
        let mut module = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        let mut functions = wasm_encoder::FunctionSection::new();
        functions.function(0);
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: Some(60_000),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut exports = wasm_encoder::ExportSection::new();
        exports.export("_start", ExportKind::Func, 0);
        let mut code = wasm_encoder::CodeSection::new();
        let mut body = wasm_encoder::Function::new([]);
        body.instructions().i32_const(1).memory_grow(0).drop().end();
        code.function(&body);
        module
            .section(&types)
            .section(&functions)
            .section(&memories)
            .section(&exports)
            .section(&code);
        let capped = cap_memory(&module.finish(), 2 * MIB).unwrap();
        let (maxima, imports, grows) = inspect(&capped);
        assert_eq!(maxima, vec![Some(32)], "the lower of the two maxima");
        assert_eq!(imports, vec![("pws".to_owned(), "memory_grow".to_owned())]);
        assert!(!grows);
    }

    #[test]
    fn garbage_and_greed_are_refused() {
        assert!(matches!(
            cap_memory(b"\0asm\x01\0\0\0garbage", 64 * MIB),
            Err(Refused::Invalid(_))
        ));
        assert_eq!(cap_memory(PROBE, 64 * 1024), Err(Refused::TooLarge));
    }
}
