// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

/// @title CohortManager: the registry of cohort's validator nodes and of the chains they run
/// @notice Operators register their servers here as nodes; chain owners create chains, and the
/// contract picks the nodes that run each chain and reserves slots on them. cohort-core on every
/// node follows the events below (NodeAssigned and NodeReleased are indexed by nodeId) to start
/// and stop its subnode containers. docs/manager-contracts.md explains all of it for operators.
/// @dev One contract, not two (Nodes + Chains): placing a chain reads and writes every candidate
/// node's slot map in the same transaction, so a split would need cross-contract calls and an
/// access-control link between the two for no gain at this size. There is no admin, no fee and no
/// upgrade path yet.
///
/// Rotation moves a chain off one member to a replacement node: a node's exit starts it for
/// the chains the node serves, a chain's owner may rotate any member, and 2f + 1 of a chain's
/// other members may rotate out one they sign is absent. The record names the chain's next
/// epoch; the chain's nodes carry out the change and f + 1 members of the new epoch confirm it
/// with completeRotation, which frees the leaving node's slots (docs/manager-contracts.md).
///
/// The slot map: a node has SLOTS_PER_NODE = 128 slots, held as a uint128 whose bit s is set when
/// slot s is reserved. A chain of `size` slots takes the same number of contiguous slots on each
/// of its nodes, at the lowest free position of each node (first fit), and slot s of a node owns
/// the ports [port + 8s, port + 8s + 7] above the node's base port, so every member of a chain
/// knows every other member's ports from the chain's first slots.
contract CohortManager {
    // ---------------------------------------------------------------- constants

    /// @notice Slots of one node; a chain's size is its share of a node in slots.
    uint256 public constant SLOTS_PER_NODE = 128;
    /// @notice Ports each slot owns above the node's base port (cohort-core's PORTS_PER_SLOT).
    uint256 public constant PORTS_PER_SLOT = 8;
    /// @notice Sizes, in slots per node: small, medium and large (the whole node).
    uint8 public constant SIZE_SMALL = 1;
    uint8 public constant SIZE_MEDIUM = 16;
    uint8 public constant SIZE_LARGE = 128;
    /// @notice Most nodes one chain may run on (a cohort is 16 nodes, SKALE's committee size).
    uint256 public constant MAX_CHAIN_NODES = 16;
    /// @notice Most active nodes at once: createChain scans them all, so this bounds its gas
    /// (about 3,700 gas per active node, measured) well below a block's gas limit.
    uint256 public constant MAX_ACTIVE_NODES = 1024;
    /// @notice Lowest base port a node may register (below are the privileged ports).
    uint16 public constant MIN_BASE_PORT = 1024;
    /// @notice Highest base port: the last slot's last port, base + 128 * 8 - 1, must be <= 65535.
    uint16 public constant MAX_BASE_PORT = uint16(65536 - SLOTS_PER_NODE * PORTS_PER_SLOT);
    /// @notice Longest chain or node name, in bytes (chain names become container and volume names).
    uint256 public constant MAX_NAME_LENGTH = 63;
    /// @notice Longest domain name, in bytes (DNS's limit).
    uint256 public constant MAX_DOMAIN_LENGTH = 253;
    /// @notice Length of a node's public key: the uncompressed secp256k1 point X || Y, no 0x04 prefix.
    uint256 public constant PUBLIC_KEY_LENGTH = 64;
    /// @notice Most rotations initExit starts itself; rotateLeaving starts the others, one chain each.
    uint256 public constant MAX_EXIT_ROTATIONS = 4;
    /// @notice Shortest absence, in seconds, that reportAbsent accepts (its members' statements
    /// say "absent since `since`", and since + MIN_ABSENCE must not be after the block's time).
    uint256 public constant MIN_ABSENCE = 600;
    /// @notice Domain tags of the statements members sign (see completeRotation and reportAbsent).
    bytes32 public constant ROTATION_DONE_TAG = keccak256("cohort rotation done v1");
    bytes32 public constant ABSENT_TAG = keccak256("cohort member absent v1");

    /// @dev Ports covered by one node's slots: two nodes on one IP may not overlap in this range.
    uint256 private constant PORT_SPAN = SLOTS_PER_NODE * PORTS_PER_SLOT;
    /// @dev The low 53 bits: an EVM chain id a JavaScript number holds exactly (2^53 - 1 is its max safe integer).
    uint256 private constant EVM_CHAIN_ID_MASK = (1 << 53) - 1;
    /// @dev All 128 slots taken.
    uint256 private constant FULL_MAP = type(uint128).max;

    // ---------------------------------------------------------------- types

    /// @notice A node's life: Active nodes receive chains; Leaving nodes (after initExit) keep
    /// the chains they serve but receive no new ones; Left nodes (after completeExit) are history.
    enum NodeStatus {
        None,
        Active,
        Leaving,
        Left
    }

    /// @dev Storage layout: the first word (slotMap .. activeIndex, 27 bytes) is all that chain
    /// placement reads for each candidate, so a scan costs one storage read per node.
    struct Node {
        uint128 slotMap; // bit s set: slot s reserved
        bytes4 ip; // IPv4, network byte order (a.b.c.d is 0xaabbccdd)
        uint16 port; // base port
        NodeStatus status;
        uint32 activeIndex; // position in _activeNodes while Active
        address owner;
        uint64 registeredBlock;
        string name;
        string domain;
        bytes publicKey;
    }

    /// @dev memberNodes[i] runs the chain on slots [memberFirstSlots[i], + size) of its slot map.
    struct Chain {
        address owner;
        uint8 size; // slots per node: 1, 16 or 128; 0 means no such chain
        uint64 createdBlock;
        string name;
        uint32[] memberNodes;
        uint8[] memberFirstSlots;
    }

    /// @notice A node as the getters return it.
    struct NodeInfo {
        uint256 id;
        string name;
        bytes4 ip;
        uint16 port;
        bytes publicKey;
        string domain;
        address owner;
        NodeStatus status;
        uint128 slotMap;
        uint256 freeSlots;
        uint64 registeredBlock;
    }

    /// @notice Why a rotation started.
    enum RotationReason {
        None,
        Exit, // the leaving node's exit (initExit, rotateLeaving)
        Owner, // the chain's owner (rotateMember)
        Absent // 2f + 1 of the other members signed that it is absent (reportAbsent)
    }

    /// @dev A chain has at most one rotation in flight. The joining node's range is reserved
    /// in its slot map (and _chainAtSlot) from the start; the leaving node's is freed at the end.
    struct Rotation {
        uint32 leaving; // 0: none in flight
        uint32 joining;
        uint8 joiningFirstSlot;
        uint8 memberIndex; // the leaving node's index, which the joining node takes
        RotationReason reason;
        uint64 startedBlock;
    }

    /// @notice A chain's rotation as getRotation returns it.
    struct RotationInfo {
        uint32 epoch; // the chain's current epoch (0 at creation, +1 per completed rotation)
        bool pending; // a rotation is in flight; the fields below describe it
        uint256 leavingNodeId;
        uint256 joiningNodeId;
        uint8 joiningFirstSlot;
        uint8 memberIndex;
        RotationReason reason;
        uint64 startedBlock;
    }

    /// @notice A chain as the getters return it: nodeIds[i] runs it on slots [firstSlots[i], + size).
    struct ChainInfo {
        uint256 id;
        string name;
        address owner;
        uint8 size;
        uint64 evmChainId;
        uint64 createdBlock;
        uint256[] nodeIds;
        uint8[] firstSlots;
    }

    // ---------------------------------------------------------------- storage

    /// @dev Node ids start at 1 so that 0 means "none" in the lookups below.
    mapping(uint256 nodeId => Node) private _nodes;
    uint32 private _nodeCount;
    /// @dev The candidates of chain placement, in the order the selection rule uses.
    uint32[] private _activeNodes;
    mapping(address owner => uint256[] nodeIds) private _nodesOfOwner;
    mapping(bytes32 nameHash => uint32 nodeId) private _nodeByName;
    /// @dev ip => port / PORT_SPAN => the node whose base port is in that bucket. Two base ports
    /// in one bucket are less than PORT_SPAN apart, so a bucket holds at most one node.
    mapping(bytes4 ip => mapping(uint256 bucket => uint32 nodeId)) private _nodeByEndpoint;
    /// @dev nodeId => slot => the chain whose range starts at that slot (0 elsewhere).
    mapping(uint256 nodeId => uint32[128]) private _chainAtSlot;

    /// @dev Chain ids start at 1; a deleted chain's id is never reused.
    mapping(uint256 chainId => Chain) private _chains;
    uint32 private _chainCount;
    /// @dev One map gives both rules: names are unique and so are their EVM chain ids.
    mapping(uint64 evmChainId => uint32 chainId) private _chainByEvmId;
    /// @dev chainId => its epoch: completed rotations since creation.
    mapping(uint256 chainId => uint32 epoch) private _epochs;
    /// @dev chainId => the rotation in flight, if any.
    mapping(uint256 chainId => Rotation) private _rotations;

    // ---------------------------------------------------------------- events

    /// @notice A node was registered.
    /// @param nodeId the new node's id (from 1)
    /// @param owner the account that registered it: the address of its public key
    /// @param name its unique name
    /// @param ip its IPv4 address
    /// @param port its base port
    /// @param publicKey its 64-byte secp256k1 public key
    /// @param domain its domain name (may be empty)
    event NodeRegistered(
        uint256 indexed nodeId,
        address indexed owner,
        string name,
        bytes4 ip,
        uint16 port,
        bytes publicKey,
        string domain
    );

    /// @notice A node's owner started its exit: the node receives no new chains.
    /// @param nodeId the node
    /// @param owner its owner
    /// @param usedSlots slots it still serves (its chains must be deleted, or later rotated, first)
    event NodeExitInitiated(uint256 indexed nodeId, address indexed owner, uint256 usedSlots);

    /// @notice A node left: its name and endpoint are free for a new registration.
    /// @param nodeId the node
    /// @param owner its owner
    event NodeExited(uint256 indexed nodeId, address indexed owner);

    /// @notice A chain was created (one NodeAssigned per member follows in the same transaction).
    /// @param chainId the new chain's id (from 1)
    /// @param name its unique name
    /// @param owner the account that created it (the only one that may delete it)
    /// @param size slots per node: 1 (small), 16 (medium) or 128 (large)
    /// @param nodeIds its members, in the order the selection picked them (a member's index)
    event ChainCreated(uint256 indexed chainId, string name, address indexed owner, uint8 size, uint256[] nodeIds);

    /// @notice A node was given a chain to run.
    /// @param chainId the chain
    /// @param nodeId the node
    /// @param firstSlot the first of the chain's `size` contiguous slots on this node
    event NodeAssigned(uint256 indexed chainId, uint256 indexed nodeId, uint8 firstSlot);

    /// @notice A node no longer runs a chain, and its slots are free (one per member on deletion).
    /// @param chainId the chain
    /// @param nodeId the node
    /// @param firstSlot the first slot of the range that was freed
    event NodeReleased(uint256 indexed chainId, uint256 indexed nodeId, uint8 firstSlot);

    /// @notice A chain's member is being replaced: `joiningNodeId` has its slots reserved (a
    /// NodeAssigned for it follows) and takes member index `memberIndex` in epoch `epoch`.
    /// @param chainId the chain
    /// @param leavingNodeId the member that goes
    /// @param joiningNodeId the node that takes its place
    /// @param epoch the chain's epoch once the change is done (its current epoch + 1)
    /// @param memberIndex the leaving member's index in the chain, the joining node's from then on
    /// @param joiningFirstSlot the joining node's first slot for the chain
    /// @param reason why (1 exit, 2 owner, 3 absent)
    event RotationStarted(
        uint256 indexed chainId,
        uint256 indexed leavingNodeId,
        uint256 indexed joiningNodeId,
        uint32 epoch,
        uint8 memberIndex,
        uint8 joiningFirstSlot,
        RotationReason reason
    );

    /// @notice A leaving node's chain has no replacement yet (no Active node outside the chain
    /// has room); anyone may call rotateLeaving once one has.
    /// @param chainId the chain
    /// @param leavingNodeId the Leaving member
    event RotationWaiting(uint256 indexed chainId, uint256 indexed leavingNodeId);

    /// @notice A rotation is done: the chain runs in epoch `epoch` from block `height` on, the
    /// leaving node's slots are free (a NodeReleased for it precedes this event).
    /// @param chainId the chain
    /// @param leavingNodeId the member that went
    /// @param joiningNodeId the member that came
    /// @param epoch the chain's epoch now
    /// @param height the chain's first block of that epoch, as f + 1 of its members signed
    event RotationCompleted(
        uint256 indexed chainId,
        uint256 indexed leavingNodeId,
        uint256 indexed joiningNodeId,
        uint32 epoch,
        uint64 height
    );

    /// @notice A chain was deleted (after one NodeReleased per member in the same transaction).
    /// @param chainId the chain
    /// @param name its name, free again
    /// @param owner its owner
    event ChainDeleted(uint256 indexed chainId, string name, address indexed owner);

    // ---------------------------------------------------------------- errors

    /// @notice A node name must be 1..63 printable ASCII characters without spaces.
    error InvalidNodeName(string name);
    /// @notice A domain must be 0..253 printable ASCII characters without spaces.
    error InvalidDomain(string domain);
    /// @notice The IPv4 address 0.0.0.0 is not an endpoint.
    error InvalidIp(bytes4 ip);
    /// @notice The base port must be in MIN_BASE_PORT..MAX_BASE_PORT (1024..64512).
    error InvalidPort(uint16 port, uint16 min, uint16 max);
    /// @notice The public key must be 64 bytes (X || Y, without the 0x04 prefix).
    error InvalidPublicKeyLength(uint256 length);
    /// @notice The public key's address is not the sender: send from the node's own key.
    error PublicKeyNotSender(address keyAddress, address sender);
    /// @notice Another node has this name.
    error NodeNameTaken(string name, uint256 nodeId);
    /// @notice Another node on this IP has base port `otherPort`, less than 1024 ports away,
    /// so their port blocks would overlap.
    error EndpointTaken(bytes4 ip, uint16 port, uint256 nodeId, uint16 otherPort);
    /// @notice MAX_ACTIVE_NODES nodes are active already (or node ids ran out).
    error TooManyNodes(uint256 limit);
    /// @notice No node has this id.
    error NodeNotFound(uint256 nodeId);
    /// @notice Only the node's owner may do this.
    error NotNodeOwner(uint256 nodeId, address owner, address caller);
    /// @notice The node is not in the status this needs (1 Active, 2 Leaving, 3 Left).
    error WrongNodeStatus(uint256 nodeId, NodeStatus status, NodeStatus needed);
    /// @notice The node still serves chains on `usedSlots` slots: wait for their rotations
    /// (getRotation; rotateLeaving starts those not started) or delete them.
    error NodeServesChains(uint256 nodeId, uint256 usedSlots);
    /// @notice A chain name must be 1..63 characters of [a-z0-9-], not starting or ending with '-'.
    error InvalidChainName(string name);
    /// @notice The size must be 1 (small), 16 (medium) or 128 (large).
    error InvalidChainSize(uint8 size);
    /// @notice The node count must be 1..MAX_CHAIN_NODES.
    error InvalidNodeCount(uint256 nodeCount, uint256 max);
    /// @notice A chain with this name exists.
    error ChainNameTaken(string name, uint256 chainId);
    /// @notice Another chain's name has the same EVM chain id (the low 53 bits of their hashes match).
    error EvmChainIdTaken(string name, uint64 evmChainId, uint256 chainId);
    /// @notice Only `available` active nodes have `size` contiguous free slots; `needed` are needed.
    error NotEnoughNodes(uint8 size, uint256 needed, uint256 available);
    /// @notice No chain has this id (never created, or deleted).
    error ChainNotFound(uint256 chainId);
    /// @notice No chain has this name.
    error ChainNameNotFound(string name);
    /// @notice Only the chain's owner may do this.
    error NotChainOwner(uint256 chainId, address owner, address caller);
    /// @notice Chain ids ran out (2^32 - 1 chains).
    error TooManyChains();
    /// @notice The node is not a member of the chain (a joining node becomes one at completeRotation).
    error NotChainMember(uint256 chainId, uint256 nodeId);
    /// @notice The chain has a rotation in flight already (one at a time): wait for its completeRotation.
    error RotationInFlight(uint256 chainId, uint256 leavingNodeId, uint256 joiningNodeId);
    /// @notice The chain has no rotation in flight.
    error NoRotation(uint256 chainId);
    /// @notice The rotation in flight is to another epoch than the one signed.
    error WrongEpoch(uint256 chainId, uint32 given, uint32 expected);
    /// @notice No Active node outside the chain has `size` contiguous free slots.
    error NoReplacement(uint256 chainId, uint8 size);
    /// @notice Signature `index` is not 65 bytes r || s || v, or does not recover.
    error BadSignature(uint256 index);
    /// @notice Signature `index` is by `signer`, who may not sign this (not a member of the
    /// right set, the reported node itself, or a member who signed already).
    error WrongSigner(uint256 index, address signer);
    /// @notice `got` valid signatures of distinct members; `needed` are needed.
    error NotEnoughSignatures(uint256 got, uint256 needed);
    /// @notice The absence is too recent: since + MIN_ABSENCE is after the block's time.
    error AbsenceTooShort(uint256 since, uint256 minimum, uint256 blockTime);

    // ---------------------------------------------------------------- nodes

    /// @notice Registers the sender's server as a node.
    /// @dev The public key must be the sender's: address = the last 20 bytes of keccak256(publicKey),
    /// so a node can only be registered from its own key. Names are unique, and so are port blocks:
    /// no two nodes on one IP have base ports less than 1024 apart (their slot ports would overlap).
    /// @param name 1..63 printable ASCII characters, no spaces
    /// @param ip IPv4 address in network byte order (a.b.c.d is 0xaabbccdd), not 0.0.0.0
    /// @param port base port, 1024..64512: slot s owns ports port + 8s .. port + 8s + 7
    /// @param publicKey the 64-byte uncompressed secp256k1 public key X || Y of the sender
    /// @param domain the node's domain name, 0..253 printable ASCII characters, no spaces
    /// @return nodeId the new node's id
    function registerNode(
        string calldata name,
        bytes4 ip,
        uint16 port,
        bytes calldata publicKey,
        string calldata domain
    ) external returns (uint256 nodeId) {
        _checkNodeArgs(name, ip, port, publicKey, domain);
        bytes32 nameHash = keccak256(bytes(name));
        {
            uint256 taken = _nodeByName[nameHash];
            if (taken != 0) revert NodeNameTaken(name, taken);
        }
        _checkEndpointFree(ip, port);
        if (_activeNodes.length >= MAX_ACTIVE_NODES || _nodeCount == type(uint32).max) {
            revert TooManyNodes(MAX_ACTIVE_NODES);
        }

        uint32 id = _nodeCount + 1;
        _nodeCount = id;
        {
            Node storage node = _nodes[id];
            node.ip = ip;
            node.port = port;
            node.status = NodeStatus.Active;
            node.activeIndex = uint32(_activeNodes.length);
            node.owner = msg.sender;
            node.registeredBlock = uint64(block.number);
            node.name = name;
            node.domain = domain;
            node.publicKey = publicKey;
        }
        _activeNodes.push(id);
        _nodesOfOwner[msg.sender].push(id);
        _nodeByName[nameHash] = id;
        _nodeByEndpoint[ip][port / PORT_SPAN] = id;

        emit NodeRegistered(id, msg.sender, name, ip, port, publicKey, domain);
        return id;
    }

    /// @notice Starts a node's exit: from now on it receives no new chains, and the chains it
    /// serves rotate to other nodes.
    /// @dev Starts the rotation of up to MAX_EXIT_ROTATIONS of the node's chains (lowest slots
    /// first; RotationStarted, or RotationWaiting when no node has room); rotateLeaving, which
    /// anyone may call, starts the others, and completeRotation starts the next one of a chain
    /// whose rotation was in flight. completeExit waits until the node serves no chain.
    /// @param nodeId an Active node of the sender
    function initExit(uint256 nodeId) external {
        Node storage node = _ownedNode(nodeId);
        if (node.status != NodeStatus.Active) revert WrongNodeStatus(nodeId, node.status, NodeStatus.Active);

        // Swap-and-pop out of the candidates; the moved node learns its new position.
        uint256 index = node.activeIndex;
        uint256 lastIndex = _activeNodes.length - 1;
        assert(_activeNodes[index] == nodeId);
        if (index != lastIndex) {
            uint32 moved = _activeNodes[lastIndex];
            _activeNodes[index] = moved;
            _nodes[moved].activeIndex = uint32(index);
        }
        _activeNodes.pop();
        node.activeIndex = 0;
        node.status = NodeStatus.Leaving;

        emit NodeExitInitiated(nodeId, msg.sender, _popcount(node.slotMap));

        // Rotate the first chains the node is a member of (a chain joining it is in flight).
        uint256 map = node.slotMap;
        uint32[128] storage starts = _chainAtSlot[nodeId];
        uint256 tried;
        uint256 slot;
        while (slot < SLOTS_PER_NODE && tried < MAX_EXIT_ROTATIONS) {
            if ((map >> slot) & 1 == 0) {
                ++slot;
                continue;
            }
            uint256 chainId = starts[slot];
            slot += _chains[chainId].size;
            (bool member, uint256 memberIndex) = _memberIndex(_chains[chainId], nodeId);
            if (!member || _rotations[chainId].leaving != 0) continue;
            ++tried;
            if (!_startRotation(chainId, memberIndex, RotationReason.Exit)) emit RotationWaiting(chainId, nodeId);
        }
    }

    /// @notice Starts the rotation of one chain off a Leaving member, for chains initExit did
    /// not rotate (more than MAX_EXIT_ROTATIONS of them, or no node had room then).
    /// @param chainId a chain with no rotation in flight
    /// @param nodeId a Leaving member of it
    function rotateLeaving(uint256 chainId, uint256 nodeId) external {
        Chain storage chain = _existingChain(chainId);
        Node storage node = _existingNode(nodeId);
        if (node.status != NodeStatus.Leaving) revert WrongNodeStatus(nodeId, node.status, NodeStatus.Leaving);
        uint256 index = _rotatable(chain, chainId, nodeId);
        if (!_startRotation(chainId, index, RotationReason.Exit)) revert NoReplacement(chainId, chain.size);
    }

    /// @notice Completes a node's exit; its name and endpoint become free for a new registration.
    /// @dev Refused while the node serves any chain: until every rotation off it is complete
    /// (or its chains are deleted by their owners).
    /// @param nodeId a Leaving node of the sender
    function completeExit(uint256 nodeId) external {
        Node storage node = _ownedNode(nodeId);
        if (node.status != NodeStatus.Leaving) revert WrongNodeStatus(nodeId, node.status, NodeStatus.Leaving);
        if (node.slotMap != 0) revert NodeServesChains(nodeId, _popcount(node.slotMap));

        node.status = NodeStatus.Left;
        delete _nodeByName[keccak256(bytes(node.name))];
        delete _nodeByEndpoint[node.ip][node.port / PORT_SPAN];

        emit NodeExited(nodeId, msg.sender);
    }

    /// @notice One node.
    /// @param nodeId the node's id
    /// @return info the node (reverts NodeNotFound for an unknown id)
    function getNode(uint256 nodeId) external view returns (NodeInfo memory info) {
        Node storage node = _existingNode(nodeId);
        info.id = nodeId;
        info.name = node.name;
        info.ip = node.ip;
        info.port = node.port;
        info.publicKey = node.publicKey;
        info.domain = node.domain;
        info.owner = node.owner;
        info.status = node.status;
        info.slotMap = node.slotMap;
        info.freeSlots = SLOTS_PER_NODE - _popcount(node.slotMap);
        info.registeredBlock = node.registeredBlock;
    }

    /// @notice The id of the node with this name, or 0 (names of Left nodes are free again).
    /// @param name a node name
    /// @return nodeId its id, or 0
    function getNodeIdByName(string calldata name) external view returns (uint256 nodeId) {
        return _nodeByName[keccak256(bytes(name))];
    }

    /// @notice The nodes an account registered, in registration order, Left ones included.
    /// @param owner the account
    /// @return nodeIds their ids
    function getNodesOfOwner(address owner) external view returns (uint256[] memory nodeIds) {
        return _nodesOfOwner[owner];
    }

    /// @notice Nodes ever registered; ids run from 1 to this.
    /// @return count the number of nodes, Left ones included
    function getNodeCount() external view returns (uint256 count) {
        return _nodeCount;
    }

    /// @notice The Active nodes, in the order the selection rule uses as its candidate list.
    /// @return nodeIds their ids
    function getActiveNodeIds() external view returns (uint256[] memory nodeIds) {
        uint256 n = _activeNodes.length;
        nodeIds = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            nodeIds[i] = _activeNodes[i];
        }
    }

    /// @notice A node's free slots (128 at registration).
    /// @param nodeId the node's id
    /// @return free the number of free slots (not necessarily contiguous)
    function getFreeSlots(uint256 nodeId) external view returns (uint256 free) {
        return SLOTS_PER_NODE - _popcount(_existingNode(nodeId).slotMap);
    }

    /// @notice The chains a node serves, each with its first slot on this node, by slot.
    /// @param nodeId the node's id
    /// @return chainIds the chains
    /// @return firstSlots firstSlots[i] is the first slot of chainIds[i] on this node
    function getNodeChains(uint256 nodeId)
        external
        view
        returns (uint256[] memory chainIds, uint8[] memory firstSlots)
    {
        uint256 map = _existingNode(nodeId).slotMap;
        uint32[128] storage starts = _chainAtSlot[nodeId];
        chainIds = new uint256[](SLOTS_PER_NODE);
        firstSlots = new uint8[](SLOTS_PER_NODE);
        uint256 count;
        uint256 slot;
        // Walk the ranges: a reserved slot with no chain starting there would be a bug.
        while (slot < SLOTS_PER_NODE) {
            if ((map >> slot) & 1 == 0) {
                ++slot;
                continue;
            }
            uint256 chainId = starts[slot];
            assert(chainId != 0);
            chainIds[count] = chainId;
            firstSlots[count] = uint8(slot);
            ++count;
            slot += _chains[chainId].size;
        }
        // Shrink the arrays to what was filled (memory arrays store their length first).
        assembly ("memory-safe") {
            mstore(chainIds, count)
            mstore(firstSlots, count)
        }
    }

    // ---------------------------------------------------------------- chains

    /// @notice Creates a chain on `nodeCount` distinct Active nodes, `size` contiguous slots on each.
    /// @dev The selection rule (deterministic for a given block; docs/manager-contracts.md):
    /// candidates are the Active nodes, in getActiveNodeIds() order, that have `size` contiguous
    /// free slots; seed = keccak256(abi.encodePacked(block.prevrandao, name)); for i = 0 ..
    /// nodeCount-1, j = i + uint256(keccak256(abi.encodePacked(seed, uint256(i)))) % (count - i),
    /// swap candidates i and j, and member i is candidate i (a partial Fisher-Yates shuffle). Each
    /// member's range is the lowest free position of `size` contiguous slots (first fit).
    /// prevrandao is not unpredictable to a block proposer: the choice is spread, not secure.
    /// Gas depends on the nodes picked (a range starting in a group of 8 slots where no other
    /// chain starts writes a fresh storage word, 17,100 gas more), and eth_estimateGas runs with
    /// another prevrandao than the including block, so senders add 25,000 gas per member to it.
    /// @param name 1..63 characters of [a-z0-9-], not starting or ending with '-', unused
    /// @param size slots per node: 1 (small), 16 (medium) or 128 (large)
    /// @param nodeCount members, 1..MAX_CHAIN_NODES
    /// @return chainId the new chain's id
    function createChain(string calldata name, uint8 size, uint16 nodeCount) external returns (uint256 chainId) {
        uint64 evmChainId = _checkChainArgs(name, size, nodeCount);
        uint256 other = _chainByEvmId[evmChainId];
        if (other != 0) {
            if (keccak256(bytes(_chains[other].name)) == keccak256(bytes(name))) revert ChainNameTaken(name, other);
            revert EvmChainIdTaken(name, evmChainId, other);
        }
        if (_chainCount == type(uint32).max) revert TooManyChains();

        (uint32[] memory members, uint8[] memory firstSlots) = _select(name, size, nodeCount);

        uint32 id = _chainCount + 1;
        _chainCount = id;
        Chain storage chain = _chains[id];
        chain.owner = msg.sender;
        chain.size = size;
        chain.createdBlock = uint64(block.number);
        chain.name = name;
        chain.memberNodes = members;
        chain.memberFirstSlots = firstSlots;
        _chainByEvmId[evmChainId] = id;

        uint256 mask = _rangeMask(size);
        uint256[] memory nodeIds = new uint256[](nodeCount);
        for (uint256 i; i < nodeCount; ++i) {
            uint32 nodeId = members[i];
            uint8 first = firstSlots[i];
            Node storage node = _nodes[nodeId];
            uint256 range = mask << first;
            assert(node.slotMap & range == 0);
            node.slotMap = uint128(node.slotMap | range);
            _chainAtSlot[nodeId][first] = id;
            nodeIds[i] = nodeId;
        }

        emit ChainCreated(id, name, msg.sender, size, nodeIds);
        for (uint256 i; i < nodeCount; ++i) {
            emit NodeAssigned(id, members[i], firstSlots[i]);
        }
        return id;
    }

    /// @notice Deletes a chain and frees its slots on every member.
    /// @param chainId a chain of the sender
    function deleteChain(uint256 chainId) external {
        Chain storage chain = _existingChain(chainId);
        if (chain.owner != msg.sender) revert NotChainOwner(chainId, chain.owner, msg.sender);

        uint256 mask = _rangeMask(chain.size);
        uint256 n = chain.memberNodes.length;
        for (uint256 i; i < n; ++i) {
            uint32 nodeId = chain.memberNodes[i];
            uint8 first = chain.memberFirstSlots[i];
            Node storage node = _nodes[nodeId];
            uint256 range = mask << first;
            assert(node.slotMap & range == range);
            assert(_chainAtSlot[nodeId][first] == chainId);
            node.slotMap = uint128(node.slotMap & ~range);
            delete _chainAtSlot[nodeId][first];
            emit NodeReleased(chainId, nodeId, first);
        }

        // A rotation in flight ends with the chain: the joining node's range is freed too.
        Rotation memory r = _rotations[chainId];
        if (r.leaving != 0) {
            uint256 range = mask << r.joiningFirstSlot;
            Node storage joining = _nodes[r.joining];
            assert(joining.slotMap & range == range);
            joining.slotMap = uint128(joining.slotMap & ~range);
            delete _chainAtSlot[r.joining][r.joiningFirstSlot];
            delete _rotations[chainId];
            emit NodeReleased(chainId, r.joining, r.joiningFirstSlot);
        }

        string memory name = chain.name;
        delete _chainByEvmId[evmChainIdOf(name)];
        delete _chains[chainId];
        delete _epochs[chainId];
        emit ChainDeleted(chainId, name, msg.sender);
    }

    // ---------------------------------------------------------------- rotation

    /// @notice The chain's owner replaces one member by another node (periodic rotation, or a
    /// member the owner no longer wants).
    /// @dev The replacement is picked as in every rotation (_startRotation's NatSpec).
    /// @param chainId a chain of the sender with no rotation in flight
    /// @param nodeId a member of it
    function rotateMember(uint256 chainId, uint256 nodeId) external {
        Chain storage chain = _existingChain(chainId);
        if (chain.owner != msg.sender) revert NotChainOwner(chainId, chain.owner, msg.sender);
        uint256 index = _rotatable(chain, chainId, nodeId);
        if (!_startRotation(chainId, index, RotationReason.Owner)) revert NoReplacement(chainId, chain.size);
    }

    /// @notice Rotates out a member that 2f + 1 of the chain's other members (n members, f =
    /// (n - 1) / 3) sign is absent since `since`: no one operator decides alone that another is dead.
    /// @dev Each signature is a node key's (65 bytes r || s || v, v 27 or 28, low s) over
    /// absenceDigest(chainId, nodeId, since), which names the chain's epoch, so statements
    /// made before a rotation do not count after it. Anyone may submit them.
    /// @param chainId a chain with no rotation in flight
    /// @param nodeId the absent member
    /// @param since unix time from which the signers saw it absent; since + MIN_ABSENCE <= now
    /// @param signatures of distinct other members, at least 2f + 1
    function reportAbsent(uint256 chainId, uint256 nodeId, uint256 since, bytes[] calldata signatures) external {
        Chain storage chain = _existingChain(chainId);
        uint256 index = _rotatable(chain, chainId, nodeId);
        if (since + MIN_ABSENCE > block.timestamp) revert AbsenceTooShort(since, MIN_ABSENCE, block.timestamp);
        uint256 n = chain.memberNodes.length;
        _checkSignatures(absenceDigest(chainId, nodeId, since), chain.memberNodes, index, signatures, 2 * ((n - 1) / 3) + 1);
        if (!_startRotation(chainId, index, RotationReason.Absent)) revert NoReplacement(chainId, chain.size);
    }

    /// @notice Ends a chain's rotation: f + 1 members of the new epoch (n members, f = (n - 1) / 3;
    /// the joining node is one of them) sign that the chain runs in epoch `epoch` from block
    /// `height`. Frees the leaving node's slots and makes the joining node the member at its index.
    /// @dev Signatures as in reportAbsent, over rotationDigest(chainId, epoch, height). Then,
    /// if another member of the chain is Leaving, starts its rotation (or emits RotationWaiting).
    /// @param chainId a chain with a rotation in flight
    /// @param epoch the epoch that rotation names (getRotation(chainId).epoch + 1)
    /// @param height the chain's first block in that epoch
    /// @param signatures of distinct members of the new epoch, at least f + 1
    function completeRotation(uint256 chainId, uint32 epoch, uint64 height, bytes[] calldata signatures) external {
        Chain storage chain = _existingChain(chainId);
        Rotation memory r = _rotations[chainId];
        if (r.leaving == 0) revert NoRotation(chainId);
        uint32 expected = _epochs[chainId] + 1;
        if (epoch != expected) revert WrongEpoch(chainId, epoch, expected);
        uint32[] memory members = chain.memberNodes;
        members[r.memberIndex] = r.joining;
        uint256 n = members.length;
        _checkSignatures(rotationDigest(chainId, epoch, height), members, type(uint256).max, signatures, (n - 1) / 3 + 1);

        uint8 first = chain.memberFirstSlots[r.memberIndex];
        uint256 range = _rangeMask(chain.size) << first;
        Node storage leaving = _nodes[r.leaving];
        assert(leaving.slotMap & range == range);
        leaving.slotMap = uint128(leaving.slotMap & ~range);
        delete _chainAtSlot[r.leaving][first];
        chain.memberNodes[r.memberIndex] = r.joining;
        chain.memberFirstSlots[r.memberIndex] = r.joiningFirstSlot;
        _epochs[chainId] = epoch;
        delete _rotations[chainId];
        emit NodeReleased(chainId, r.leaving, first);
        emit RotationCompleted(chainId, r.leaving, r.joining, epoch, height);

        for (uint256 i; i < n; ++i) {
            if (_nodes[members[i]].status != NodeStatus.Leaving) continue;
            if (!_startRotation(chainId, i, RotationReason.Exit)) emit RotationWaiting(chainId, members[i]);
            break;
        }
    }

    /// @notice A chain's epoch and its rotation in flight, if any.
    /// @param chainId the chain's id
    /// @return info pending is false when no rotation is in flight
    function getRotation(uint256 chainId) external view returns (RotationInfo memory info) {
        _existingChain(chainId);
        Rotation memory r = _rotations[chainId];
        info.epoch = _epochs[chainId];
        info.pending = r.leaving != 0;
        info.leavingNodeId = r.leaving;
        info.joiningNodeId = r.joining;
        info.joiningFirstSlot = r.joiningFirstSlot;
        info.memberIndex = r.memberIndex;
        info.reason = r.reason;
        info.startedBlock = r.startedBlock;
    }

    /// @notice What members sign to complete a rotation: keccak256(abi.encode(ROTATION_DONE_TAG,
    /// block.chainid, address(this), chainId, epoch, height, leavingNodeId, joiningNodeId)),
    /// signed as it is (no EIP-191 prefix). Reverts NoRotation when none is in flight.
    function rotationDigest(uint256 chainId, uint32 epoch, uint64 height) public view returns (bytes32) {
        Rotation storage r = _rotations[chainId];
        if (r.leaving == 0) revert NoRotation(chainId);
        return keccak256(
            abi.encode(ROTATION_DONE_TAG, block.chainid, address(this), chainId, epoch, height, r.leaving, r.joining)
        );
    }

    /// @notice What members sign to report another absent: keccak256(abi.encode(ABSENT_TAG,
    /// block.chainid, address(this), chainId, epoch, nodeId, since)) with the chain's current
    /// epoch, signed as it is (no EIP-191 prefix).
    function absenceDigest(uint256 chainId, uint256 nodeId, uint256 since) public view returns (bytes32) {
        return keccak256(abi.encode(ABSENT_TAG, block.chainid, address(this), chainId, _epochs[chainId], nodeId, since));
    }

    /// @notice One chain by id.
    /// @param chainId the chain's id
    /// @return info the chain (reverts ChainNotFound for an unknown or deleted id)
    function getChain(uint256 chainId) external view returns (ChainInfo memory info) {
        return _chainInfo(chainId);
    }

    /// @notice One chain by name.
    /// @param name the chain's name
    /// @return info the chain (reverts ChainNameNotFound when no chain has this name)
    function getChainByName(string calldata name) external view returns (ChainInfo memory info) {
        uint256 chainId = _chainIdByName(name);
        if (chainId == 0) revert ChainNameNotFound(name);
        return _chainInfo(chainId);
    }

    /// @notice The id of the chain with this name, or 0.
    /// @param name a chain name
    /// @return chainId its id, or 0
    function getChainIdByName(string calldata name) external view returns (uint256 chainId) {
        return _chainIdByName(name);
    }

    /// @notice The nodes of a chain with their first slots, in member order.
    /// @param chainId the chain's id
    /// @return nodeIds the members
    /// @return firstSlots firstSlots[i] is the chain's first slot on nodeIds[i]
    function getChainNodes(uint256 chainId)
        external
        view
        returns (uint256[] memory nodeIds, uint8[] memory firstSlots)
    {
        Chain storage chain = _existingChain(chainId);
        nodeIds = _widen(chain.memberNodes);
        firstSlots = chain.memberFirstSlots;
    }

    /// @notice Chain ids ever issued; ids run from 1 to this (deleted ones included).
    /// @return count the number of chains created
    function getChainCount() external view returns (uint256 count) {
        return _chainCount;
    }

    /// @notice The nodes and first slots createChain would pick in the current block, without
    /// creating anything (the name is not checked for uniqueness). Same code as createChain.
    /// @param name a valid chain name
    /// @param size 1, 16 or 128
    /// @param nodeCount 1..MAX_CHAIN_NODES
    /// @return nodeIds the members createChain would pick
    /// @return firstSlots their first slots
    function previewSelection(string calldata name, uint8 size, uint16 nodeCount)
        external
        view
        returns (uint256[] memory nodeIds, uint8[] memory firstSlots)
    {
        _checkChainArgs(name, size, nodeCount);
        uint32[] memory members;
        (members, firstSlots) = _select(name, size, nodeCount);
        nodeIds = _widen(members);
    }

    /// @notice A chain's EVM chain id: the low 53 bits of keccak256 of its name's bytes,
    /// uint256(keccak256(bytes(name))) & (2^53 - 1), so JavaScript numbers hold it exactly.
    /// @param name the chain's name
    /// @return evmChainId the chain id its transactions sign with (EIP-155)
    function evmChainIdOf(string memory name) public pure returns (uint64 evmChainId) {
        return uint64(uint256(keccak256(bytes(name))) & EVM_CHAIN_ID_MASK);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Picks the members of a new chain by the rule in createChain's NatSpec. Reverts
    /// NotEnoughNodes when fewer than nodeCount Active nodes have `size` contiguous free slots.
    function _select(string calldata name, uint8 size, uint256 nodeCount)
        private
        view
        returns (uint32[] memory members, uint8[] memory firstSlots)
    {
        uint256 n = _activeNodes.length;
        uint32[] memory candidates = new uint32[](n);
        uint8[] memory fits = new uint8[](n);
        uint256 count;
        for (uint256 i; i < n; ++i) {
            uint32 nodeId = _activeNodes[i];
            (bool ok, uint256 first) = _firstFit(_nodes[nodeId].slotMap, size);
            if (ok) {
                candidates[count] = nodeId;
                fits[count] = uint8(first);
                ++count;
            }
        }
        if (count < nodeCount) revert NotEnoughNodes(size, nodeCount, count);

        bytes32 seed = keccak256(abi.encodePacked(block.prevrandao, name));
        members = new uint32[](nodeCount);
        firstSlots = new uint8[](nodeCount);
        for (uint256 i; i < nodeCount; ++i) {
            uint256 j = i + (uint256(keccak256(abi.encodePacked(seed, i))) % (count - i));
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
            (fits[i], fits[j]) = (fits[j], fits[i]);
            members[i] = candidates[i];
            firstSlots[i] = fits[i];
        }
    }

    /// @dev Starts the rotation of member `index` of a chain with none in flight. The replacement:
    /// with n Active nodes, start = keccak256(abi.encodePacked(block.prevrandao, chainId, epoch))
    /// mod n, where epoch is the chain's next one; the first node of getActiveNodeIds() from
    /// `start` on, wrapping around, that is not a member and has `size` contiguous free slots
    /// (first fit). Expected cost is a few nodes' reads while most have room; n at worst.
    /// @return started false when no node qualifies (nothing changed)
    function _startRotation(uint256 chainId, uint256 index, RotationReason reason) private returns (bool started) {
        Chain storage chain = _chains[chainId];
        uint32[] memory members = chain.memberNodes;
        uint32 epoch = _epochs[chainId] + 1;
        (bool found, uint32 id, uint8 first) = _findReplacement(chainId, members, chain.size, epoch);
        if (!found) return false;
        Node storage node = _nodes[id];
        node.slotMap = uint128(node.slotMap | (_rangeMask(chain.size) << first));
        _chainAtSlot[id][first] = uint32(chainId);
        _rotations[chainId] = Rotation({
            leaving: members[index],
            joining: id,
            joiningFirstSlot: first,
            memberIndex: uint8(index),
            reason: reason,
            startedBlock: uint64(block.number)
        });
        emit RotationStarted(chainId, members[index], id, epoch, uint8(index), first, reason);
        emit NodeAssigned(chainId, id, first);
        return true;
    }

    /// @dev The replacement _startRotation's NatSpec describes.
    function _findReplacement(uint256 chainId, uint32[] memory members, uint8 size, uint32 epoch)
        private
        view
        returns (bool found, uint32 id, uint8 first)
    {
        uint256 n = _activeNodes.length;
        if (n == 0) return (false, 0, 0);
        uint256 start = uint256(keccak256(abi.encodePacked(block.prevrandao, chainId, epoch))) % n;
        for (uint256 k; k < n; ++k) {
            id = _activeNodes[(start + k) % n];
            if (_contains(members, id)) continue;
            (bool ok, uint256 at) = _firstFit(_nodes[id].slotMap, size);
            if (ok) return (true, id, uint8(at));
        }
        return (false, 0, 0);
    }

    /// @dev The member index of nodeId in a chain that can start a rotation now.
    function _rotatable(Chain storage chain, uint256 chainId, uint256 nodeId) private view returns (uint256 index) {
        Rotation storage r = _rotations[chainId];
        if (r.leaving != 0) revert RotationInFlight(chainId, r.leaving, r.joining);
        bool member;
        (member, index) = _memberIndex(chain, nodeId);
        if (!member) revert NotChainMember(chainId, nodeId);
    }

    function _memberIndex(Chain storage chain, uint256 nodeId) private view returns (bool member, uint256 index) {
        uint256 n = chain.memberNodes.length;
        for (uint256 i; i < n; ++i) {
            if (chain.memberNodes[i] == nodeId) return (true, i);
        }
        return (false, 0);
    }

    function _contains(uint32[] memory ids, uint32 id) private pure returns (bool) {
        for (uint256 i; i < ids.length; ++i) {
            if (ids[i] == id) return true;
        }
        return false;
    }

    /// @dev Requires `needed` signatures over digest, each by the key (owner) of a distinct
    /// member of `members` other than the one at `excluded`. A key that owns two members counts
    /// once per signature: it signs twice to count for both.
    function _checkSignatures(
        bytes32 digest,
        uint32[] memory members,
        uint256 excluded,
        bytes[] calldata signatures,
        uint256 needed
    ) private view {
        uint256 used;
        for (uint256 i; i < signatures.length; ++i) {
            address signer = _recover(digest, signatures[i]);
            if (signer == address(0)) revert BadSignature(i);
            bool counted;
            for (uint256 m; m < members.length; ++m) {
                if (m == excluded || (used >> m) & 1 != 0 || _nodes[members[m]].owner != signer) continue;
                used |= uint256(1) << m;
                counted = true;
                break;
            }
            if (!counted) revert WrongSigner(i, signer);
        }
        if (signatures.length < needed) revert NotEnoughSignatures(signatures.length, needed);
    }

    /// @dev ecrecover of a 65-byte r || s || v signature; address(0) for a malformed one, a
    /// high s (EIP-2) or a v other than 27 and 28.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0) return address(0);
        return ecrecover(digest, v, r, s);
    }

    /// @dev First fit of `size` (a power of two up to 128) contiguous free slots in a slot map.
    /// free has bit s set when slot s is free; after the step for w, bit s of runs is set when the
    /// 2w slots from s are all free (bits past 127 shift in as zeros: "taken"), so after
    /// log2(size) steps bit s says "size free slots start at s", and the lowest such s wins.
    /// @return ok whether the map has room
    /// @return first the lowest fitting position (0 when !ok)
    function _firstFit(uint128 slotMap, uint256 size) private pure returns (bool ok, uint256 first) {
        uint256 runs = ~uint256(slotMap) & FULL_MAP;
        for (uint256 w = 1; w < size; w <<= 1) {
            runs &= runs >> w;
        }
        if (runs == 0) return (false, 0);
        return (true, _lowestBit(runs));
    }

    /// @dev Index of the lowest set bit of a non-zero value below 2^128 (binary search on it alone).
    function _lowestBit(uint256 x) private pure returns (uint256 index) {
        assert(x != 0);
        unchecked {
            x &= 0 - x; // isolate the lowest set bit (two's complement)
        }
        if (x >> 64 != 0) { index += 64; x >>= 64; }
        if (x >> 32 != 0) { index += 32; x >>= 32; }
        if (x >> 16 != 0) { index += 16; x >>= 16; }
        if (x >> 8 != 0) { index += 8; x >>= 8; }
        if (x >> 4 != 0) { index += 4; x >>= 4; }
        if (x >> 2 != 0) { index += 2; x >>= 2; }
        if (x >> 1 != 0) { index += 1; }
        assert(index < SLOTS_PER_NODE);
    }

    /// @dev Set bits of a slot map (Kernighan: one step per set bit, at most 128).
    function _popcount(uint128 x) private pure returns (uint256 count) {
        unchecked {
            while (x != 0) {
                x &= x - 1;
                ++count;
            }
        }
    }

    /// @dev `size` low bits set: the range of a chain of that size at slot 0.
    function _rangeMask(uint8 size) private pure returns (uint256) {
        assert(size >= 1 && size <= SLOTS_PER_NODE);
        return (uint256(1) << size) - 1;
    }

    /// @dev Validates registerNode's arguments, the public key's ownership included.
    function _checkNodeArgs(
        string calldata name,
        bytes4 ip,
        uint16 port,
        bytes calldata publicKey,
        string calldata domain
    ) private view {
        if (!_isNodeName(bytes(name))) revert InvalidNodeName(name);
        if (bytes(domain).length > MAX_DOMAIN_LENGTH || !_isPrintable(bytes(domain))) revert InvalidDomain(domain);
        if (ip == bytes4(0)) revert InvalidIp(ip);
        if (port < MIN_BASE_PORT || port > MAX_BASE_PORT) revert InvalidPort(port, MIN_BASE_PORT, MAX_BASE_PORT);
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(publicKey.length);
        address keyAddress = address(uint160(uint256(keccak256(publicKey))));
        if (keyAddress != msg.sender) revert PublicKeyNotSender(keyAddress, msg.sender);
    }

    /// @dev Validates createChain's arguments and returns the name's EVM chain id.
    function _checkChainArgs(string calldata name, uint8 size, uint256 nodeCount) private pure returns (uint64) {
        if (!_isChainName(bytes(name))) revert InvalidChainName(name);
        if (size != SIZE_SMALL && size != SIZE_MEDIUM && size != SIZE_LARGE) revert InvalidChainSize(size);
        if (nodeCount == 0 || nodeCount > MAX_CHAIN_NODES) revert InvalidNodeCount(nodeCount, MAX_CHAIN_NODES);
        uint64 evmChainId = evmChainIdOf(name);
        // Chain id 0 is not a valid EIP-155 id; a name hashing to it (odds 2^-53) is refused.
        if (evmChainId == 0) revert InvalidChainName(name);
        return evmChainId;
    }

    /// @dev Reverts EndpointTaken when a node on `ip` has a base port less than PORT_SPAN from `port`.
    /// Such a node's base port is in the bucket of `port` or in one of its two neighbours.
    function _checkEndpointFree(bytes4 ip, uint16 port) private view {
        uint256 bucket = port / PORT_SPAN;
        uint256 lowest = bucket == 0 ? 0 : bucket - 1;
        for (uint256 b = lowest; b <= bucket + 1; ++b) {
            uint256 other = _nodeByEndpoint[ip][b];
            if (other == 0) continue;
            uint16 otherPort = _nodes[other].port;
            uint256 distance = otherPort > port ? otherPort - port : port - otherPort;
            if (distance < PORT_SPAN) revert EndpointTaken(ip, port, other, otherPort);
        }
    }

    function _existingNode(uint256 nodeId) private view returns (Node storage node) {
        node = _nodes[nodeId];
        if (node.status == NodeStatus.None) revert NodeNotFound(nodeId);
    }

    function _ownedNode(uint256 nodeId) private view returns (Node storage node) {
        node = _existingNode(nodeId);
        if (node.owner != msg.sender) revert NotNodeOwner(nodeId, node.owner, msg.sender);
    }

    function _existingChain(uint256 chainId) private view returns (Chain storage chain) {
        chain = _chains[chainId];
        if (chain.size == 0) revert ChainNotFound(chainId);
    }

    function _chainIdByName(string calldata name) private view returns (uint256 chainId) {
        chainId = _chainByEvmId[evmChainIdOf(name)];
        // Another name with the same EVM chain id is not this name.
        if (chainId != 0 && keccak256(bytes(_chains[chainId].name)) != keccak256(bytes(name))) return 0;
    }

    function _chainInfo(uint256 chainId) private view returns (ChainInfo memory info) {
        Chain storage chain = _existingChain(chainId);
        info.id = chainId;
        info.name = chain.name;
        info.owner = chain.owner;
        info.size = chain.size;
        info.evmChainId = evmChainIdOf(chain.name);
        info.createdBlock = chain.createdBlock;
        info.nodeIds = _widen(chain.memberNodes);
        info.firstSlots = chain.memberFirstSlots;
    }

    function _widen(uint32[] memory ids) private pure returns (uint256[] memory wide) {
        wide = new uint256[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            wide[i] = ids[i];
        }
    }

    /// @dev 1..63 bytes of 0x21..0x7e.
    function _isNodeName(bytes memory s) private pure returns (bool) {
        return s.length != 0 && s.length <= MAX_NAME_LENGTH && _isPrintable(s);
    }

    /// @dev Every byte in 0x21..0x7e: printable ASCII, no space, no control or non-ASCII byte.
    function _isPrintable(bytes memory s) private pure returns (bool) {
        for (uint256 i; i < s.length; ++i) {
            bytes1 c = s[i];
            if (c < 0x21 || c > 0x7e) return false;
        }
        return true;
    }

    /// @dev 1..63 bytes of [a-z0-9-], the first and last not '-'.
    function _isChainName(bytes memory s) private pure returns (bool) {
        uint256 n = s.length;
        if (n == 0 || n > MAX_NAME_LENGTH) return false;
        if (s[0] == "-" || s[n - 1] == "-") return false;
        for (uint256 i; i < n; ++i) {
            bytes1 c = s[i];
            bool ok = (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-";
            if (!ok) return false;
        }
        return true;
    }
}
